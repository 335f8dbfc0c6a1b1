"""What the service keeps between restarts: its searches and the feedback on their answers.

`models` (tables), `database` (engine, migrations, sessions), `search_log` (writes off the
request path), `retention` (old rows deleted). Text is masked (`aurora_faq.masking`) before it is
stored.
"""
