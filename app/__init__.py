"""Aurora FAQ HTTP service: routes that translate requests into calls on `aurora_faq.Engine`.

`create_app` in `app.main` is the factory; `python -m app` serves it.
"""
