/*! Aurora FAQ widget: a search box and a chat for the shop's FAQ. Plain JavaScript, no build step. */
/*
Embedding, one tag (the API is the directory this file is served from, read from the tag's own src):

  <script src="https://faq.example/widget.js" data-mode="search|chat|both" data-lang="ja|en|auto"
          data-target="#faq" async></script>

  data-mode    required for the tag to mount anything; "search" puts the search box in data-target,
               "chat" adds a launcher (bottom right) that opens the chat, "both" does both.
  data-target  a CSS selector; default: a new element just before the script tag.
  data-lang    UI language. "auto" (default) follows <html lang>: "en…" is English, anything else Japanese.
  data-api     another API base URL (default: the directory of the script's src).

Or from a script of the page (same options; returns {destroy()}):

  AuroraFAQ.mount(document.querySelector("#faq"), {mode: "search", lang: "auto", api: "https://faq.example/"});

Language sent to the API: questions go as typed. `lang` is passed to /v1/search and /v1/suggest only
when the widget's language is fixed (data-lang / options.lang "ja" or "en"): the shop then wants answers
in that language. With "auto" the service detects each question's language and answers in it.

Theming: set these custom properties on the target element (or any ancestor); everything else is
inside a shadow root, so the page's CSS does not reach in and the widget's does not leak out.

  property                 default               used for
  --aurora-accent          #6d28d9               buttons, focus ring, highlighted suggestion
  --aurora-accent-text     #ffffff               text on the accent colour
  --aurora-bg              #ffffff               box, card and chat background
  --aurora-text            #1f2328               text
  --aurora-muted           #57606a               secondary text (keep 4.5:1 against --aurora-bg)
  --aurora-border          #c9d1d9               borders
  --aurora-font            system UI + Japanese  font-family
  --aurora-font-size       16px                  base size (16px keeps iOS from zooming the input)
  --aurora-radius          10px                  corner radius
  --aurora-z               2147483000            z-index of the launcher and the chat panel

Strict CSP: no inline script, no eval, no style attributes; styles are a constructed stylesheet
adopted by the shadow root, which `style-src 'self'` allows. The chat (chat.js beside this file,
under widget/) is imported on first open; `script-src` and `connect-src` must allow the API origin.
*/
(() => {
  "use strict";
  const script = document.currentScript; // only readable now, while this file first runs
  const ASSETS = script && script.src ? new URL(".", script.src).href : new URL("/", location.href).href;
  const DEBOUNCE_MS = 120;
  const LOADING_AFTER_MS = 200;

  const TEXT = {
    ja: {
      label: "よくある質問を検索", placeholder: "ご質問を入力（例：送料はいくら？）", search: "検索",
      suggestions: "質問の候補", count: (n) => (n ? `候補が${n}件あります。上下の矢印キーで選べます。` : "候補はありません。"),
      loading: "確認しています…", shown: "回答を表示しました。", didYouMean: "もしかして、こちらのご質問ですか？",
      yourQuestion: "ご質問", more: "詳しくはこちら", helpful: "この回答は役に立ちましたか？", yes: "はい", no: "いいえ",
      thanks: "ご回答ありがとうございました。", feedbackFailed: "送信できませんでした。",
      noAnswer: "お役に立てる回答が見つかりませんでした。公式LINEアカウントからお問い合わせください。",
      busy: "ただいま混み合っています。少し時間をおいて、もう一度お試しください。",
      down: "ただいま回答できません。しばらくしてから、もう一度お試しください。",
      offline: "接続できませんでした。通信環境をご確認のうえ、もう一度お試しください。",
      launcher: "チャットで質問", title: "AuroraBoutique サポート", close: "閉じる", send: "送信",
      chatLabel: "ご質問", greeting: "こんにちは。ご注文・お支払い・配送などのご質問をどうぞ。",
    },
    en: {
      label: "Search our FAQ", placeholder: "Ask a question (e.g. how much is shipping?)", search: "Search",
      suggestions: "Suggested questions",
      count: (n) => (n ? `${n} suggestion${n === 1 ? "" : "s"} available. Use the up and down arrow keys to choose.`
        : "No suggestions."),
      loading: "Looking that up…", shown: "Answer shown.", didYouMean: "Did you mean one of these?",
      yourQuestion: "Your question", more: "More details", helpful: "Was this helpful?", yes: "Yes", no: "No",
      thanks: "Thank you for your feedback.", feedbackFailed: "Could not send your feedback.",
      noAnswer: "Sorry, we couldn't find an answer. Please contact us on our official LINE account.",
      busy: "We're busy right now. Please try again in a moment.",
      down: "We can't answer right now. Please try again later.",
      offline: "We couldn't connect. Please check your connection and try again.",
      launcher: "Ask us", title: "AuroraBoutique support", close: "Close", send: "Send",
      chatLabel: "Your question", greeting: "Hello! Ask us about orders, payment, delivery and more.",
    },
  };

  const CSS = `
:host{all:initial;display:block;color:var(--aurora-text,#1f2328);
 font:var(--aurora-font-size,16px)/1.6 var(--aurora-font,system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP","Noto Sans JP",Meiryo,sans-serif);
 --ac:var(--aurora-accent,#6d28d9);--act:var(--aurora-accent-text,#fff);--bg:var(--aurora-bg,#fff);
 --mu:var(--aurora-muted,#57606a);--bd:var(--aurora-border,#c9d1d9);--r:var(--aurora-radius,10px)}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
button,input{font:inherit;color:inherit}
button{cursor:pointer}
:focus-visible{outline:3px solid var(--ac);outline-offset:2px}
.sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.box{position:relative;display:flex;gap:6px}
.box input{flex:1;min-width:0;padding:10px 12px;border:1px solid var(--bd);border-radius:var(--r);background:var(--bg)}
.box input:focus-visible{outline-offset:0}
.btn{padding:8px 14px;border:1px solid var(--ac);border-radius:var(--r);background:var(--ac);color:var(--act)}
.ghost{padding:6px 12px;border:1px solid var(--bd);border-radius:var(--r);background:var(--bg);text-align:start}
.ghost:hover,.ghost[aria-pressed=true]{border-color:var(--ac)}
.ghost[aria-pressed=true]{background:var(--ac);color:var(--act)}
[role=listbox]{position:absolute;z-index:10;top:100%;left:0;right:0;margin:4px 0 0;padding:4px;list-style:none;
 background:var(--bg);border:1px solid var(--bd);border-radius:var(--r);box-shadow:0 8px 24px #0002;max-height:60vh;overflow:auto}
[role=option]{padding:8px 10px;border-radius:calc(var(--r) - 4px);cursor:pointer;overflow-wrap:anywhere}
[role=option]:hover{background:#8881}
[role=option][aria-selected=true]{background:var(--ac);color:var(--act)}
.card{margin-top:12px;padding:14px 16px;border:1px solid var(--bd);border-radius:var(--r);background:var(--bg);overflow-wrap:anywhere}
.card:empty{display:none}
.q{margin:0 0 6px;font-weight:700}
.a,.note{margin:0}
.muted,.note{color:var(--mu);font-size:.9em}
.muted{margin:0 0 6px}
.card ul{margin:6px 0 10px;padding:0;list-style:none;display:grid;gap:6px}
.card a{color:var(--ac)}
.more{display:inline-block;margin-top:8px}
.fb{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin-top:12px;font-size:.9em}
.fb p{margin:0}
.err{margin:0;color:#a40e26}
.launcher{position:fixed;z-index:var(--aurora-z,2147483000);right:20px;bottom:20px;padding:12px 18px;border:0;
 border-radius:999px;background:var(--ac);color:var(--act);box-shadow:0 6px 20px #0003;font-weight:700}
`;

  const sheets = new Map(); // css text -> its constructed stylesheet, shared by every widget
  /** Adds `css` to a shadow root as a constructed stylesheet: CSP's style-src governs <style>
   * elements and style attributes, not these. */
  function adopt(root, css) {
    if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
      if (!sheets.has(css)) {
        const s = new CSSStyleSheet();
        s.replaceSync(css);
        sheets.set(css, s);
      }
      root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheets.get(css)];
    } else {
      root.append(h("style", {}, css)); // older browsers; a strict style-src blocks it there
    }
  }

  /** An element with attributes, listeners (`on…`) and children; strings become text nodes, never markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...children.filter((c) => c != null));
    return el;
  }

  function safeHref(url) {
    try {
      const u = new URL(url);
      return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
    } catch {
      return null;
    }
  }

  function link(url, label) {
    const href = safeHref(url);
    return href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, label || url) : null;
  }

  const URL_RE = /https?:\/\/[^\s<>"'`（）「」『』【】、。！？]+/g;

  /** Text with its line breaks kept and its http(s) URLs as links; nothing in it is parsed as HTML. */
  function richText(text) {
    const out = document.createDocumentFragment();
    String(text).split("\n").forEach((line, i) => {
      if (i) out.append(h("br"));
      let at = 0;
      for (const m of line.matchAll(URL_RE)) {
        const url = m[0].replace(/[.,;:!?)\]]+$/, "");
        out.append(line.slice(at, m.index), link(url) || url);
        at = m.index + url.length;
      }
      out.append(line.slice(at));
    });
    return out;
  }

  /** An API failure, by what the shopper should be told: "busy" (429), "down" (5xx, 4xx), "offline". */
  class ApiError extends Error {
    constructor(kind, status) {
      super(`Aurora FAQ API: ${kind}${status ? ` (${status})` : ""}`);
      this.kind = kind;
    }
  }

  async function request(base, path, { params, body, signal } = {}) {
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(params || {})) if (v != null) url.searchParams.set(k, v);
    const init = body
      ? { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body), signal }
      : { signal };
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError("offline");
    }
    if (!res.ok) throw new ApiError(res.status === 429 ? "busy" : "down", res.status);
    try {
      return await res.json();
    } catch (e) {
      if (signal && signal.aborted) throw e;
      throw new ApiError("down", res.status);
    }
  }

  const capabilities = new Map(); // API base -> Promise<boolean>: asked once a page
  function feedbackOffered(base) {
    if (!capabilities.has(base)) {
      capabilities.set(base, request(base, "v1/capabilities").then((c) => !!c && c.feedback === true, () => false));
    }
    return capabilities.get(base);
  }

  /** The shopper's view of a /v1/search response: {kind: "answer"|"clarify"|"none", ...}, storable as JSON. */
  function fromSearch(r) {
    const entries = (r.results || []).map((x) => ({ id: x.id, question: x.question, answer: x.answer, url: x.url, lang: x.lang }));
    const base = { queryId: r.query_id, query: r.query };
    if (r.decision === "answer" && entries.length) return { ...base, kind: "answer", entry: entries[0] };
    if (r.decision === "clarify" && entries.length) return { ...base, kind: "clarify", choices: entries, fallback: r.fallback };
    return { ...base, kind: "none", fallback: r.fallback };
  }

  /** A /v1/faq/{id} response as an answer, in `lang` when the entry has it. */
  function fromFaq(f, lang, queryId) {
    const la = f.question[lang] != null ? lang : Object.keys(f.question)[0];
    const entry = { id: f.id, question: f.question[la], answer: f.answer[la] || "", url: f.url, lang: la };
    return { kind: "answer", queryId, entry };
  }

  /** Keys that belong to an IME: Safari fires compositionend before the confirming keydown (229). */
  const imeKey = (e) => e.isComposing || e.keyCode === 229;

  /** A widget's shared pieces: its language, texts, API and how a reply is drawn. */
  function context(root, opts) {
    const fixed = opts.lang === "ja" || opts.lang === "en" ? opts.lang : null;
    const lang = fixed || ((document.documentElement.lang || "").toLowerCase().startsWith("en") ? "en" : "ja");
    const t = TEXT[lang];
    const base = new URL(opts.api || ASSETS, location.href).href;
    const ctx = {
      root, lang, t, base, h, imeKey, fromSearch, adopt,
      apiLang: fixed, // sent to the API only when fixed (see the header)
      uid: `aurora-${++uids}`,
      request: (path, o) => request(base, path, o),
      message: (reply) => t[reply.error] || t.down, // an error reply: {kind: "error", error: ApiError kind}

      /** A card for `reply`; `onChoose(entry)` when a clarify choice is picked. */
      renderReply(reply, onChoose) {
        const card = h("div", { class: "card" });
        if (reply.kind === "error") {
          card.append(h("p", { class: "err" }, ctx.message(reply)));
        } else if (reply.kind === "answer") {
          const { entry } = reply;
          card.append(h("p", { class: "q", lang: entry.lang }, entry.question),
            h("p", { class: "a", lang: entry.lang }, richText(entry.answer)));
          const more = entry.url && !entry.answer.includes(entry.url) && link(entry.url, t.more);
          if (more) card.append(h("div", { class: "more" }, more));
          feedbackOffered(base).then((ok) => ok && card.append(ctx.feedback(reply.queryId, entry.id)));
        } else {
          if (reply.query) card.append(h("p", { class: "muted" }, `${t.yourQuestion}: ${reply.query}`));
          if (reply.kind === "clarify") {
            const list = h("ul", {});
            for (const c of reply.choices) {
              list.append(h("li", {}, h("button", { type: "button", class: "ghost", lang: c.lang, onclick: () => onChoose(c) }, c.question)));
            }
            card.append(h("p", { class: "q" }, t.didYouMean), list);
            if (reply.fallback) card.append(h("p", { class: "note" }, richText(reply.fallback)));
          } else {
            card.append(h("p", { class: "a" }, richText(reply.fallback || t.noAnswer)));
          }
        }
        return card;
      },

      /** "Was this helpful? 👍 / 👎", posted once; only drawn when the service offers feedback. */
      feedback(queryId, answerId) {
        const status = h("p", { role: "status" });
        let sent = false;
        const vote = (helpful) => async (e) => {
          if (sent) return;
          sent = true;
          for (const b of buttons) b.setAttribute("aria-disabled", "true");
          e.currentTarget.setAttribute("aria-pressed", "true");
          try {
            await ctx.request("v1/feedback", { body: { ...(queryId ? { query_id: queryId } : {}), answer_id: answerId, helpful } });
            status.textContent = t.thanks;
          } catch {
            status.textContent = t.feedbackFailed;
          }
        };
        const buttons = [
          h("button", { type: "button", class: "ghost", "aria-label": t.yes, "aria-pressed": "false", onclick: vote(true) }, "👍"),
          h("button", { type: "button", class: "ghost", "aria-label": t.no, "aria-pressed": "false", onclick: vote(false) }, "👎"),
        ];
        return h("div", { class: "fb", role: "group", "aria-label": t.helpful }, h("p", {}, t.helpful), ...buttons, status);
      },

      /** Calls `show()` if `promise` is still pending after 200 ms, `hide()` once it settles. */
      loading(promise, show, hide) {
        const timer = setTimeout(show, LOADING_AFTER_MS);
        const done = () => { clearTimeout(timer); hide(); };
        promise.then(done, done);
        return promise;
      },
    };
    return ctx;
  }
  let uids = 0;

  /* While composing, suggestions wait for compositionend when the composition is Japanese: once
   * it has shown kana, kanji or any non-ASCII character (for the rest of that composition), or while
   * it is a romaji prefix ("k", "ky") shorter than 3 characters. Android's Latin keyboards compose
   * whole ASCII words, which keep suggesting as they grow. */
  const nonAscii = (text) => /[^\x20-\x7e]/.test(text);
  const suggestible = (q) => q.length >= 2 || /[^\x00-\x7f]/.test(q);

  /** The search box: a WAI-ARIA 1.2 combobox with suggestions, and the answer card under it. */
  function searchBox(ctx) {
    const { t, uid } = ctx;
    const st = { items: [], active: -1, timer: 0, seq: 0, sugCtrl: null, ansSeq: 0, ansCtrl: null, queryId: null,
      composing: false, japanese: false, wait: false };
    const list = h("ul", { id: `${uid}-list`, role: "listbox", "aria-label": t.suggestions, hidden: true,
      onmousedown: (e) => e.preventDefault() }); // a click or a scroll in the list keeps focus in the input
    const input = h("input", {
      id: `${uid}-q`, type: "text", role: "combobox", "aria-label": t.label, "aria-autocomplete": "list",
      "aria-expanded": "false", "aria-controls": list.id, placeholder: t.placeholder, autocomplete: "off",
      autocapitalize: "off", spellcheck: "false", enterkeyhint: "search", maxlength: "500",
    });
    const status = h("div", { class: "sr", role: "status" });
    const card = h("div", { class: "result" });
    const busy = h("p", { class: "card muted", hidden: true }, t.loading);
    const el = h("div", { class: "search", role: "search" },
      h("div", { class: "box" }, input, h("button", { type: "button", class: "btn", onclick: () => submit() }, t.search), list),
      status, busy, card);

    const setOpen = (open) => {
      list.hidden = !open;
      input.setAttribute("aria-expanded", String(open));
      if (!open) highlight(-1);
    };
    function highlight(i) {
      st.active = i;
      list.childNodes.forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
      if (i < 0) input.removeAttribute("aria-activedescendant");
      else {
        input.setAttribute("aria-activedescendant", `${uid}-opt-${i}`);
        list.childNodes[i].scrollIntoView({ block: "nearest" });
      }
    }
    function renderList(items, announce = true) {
      st.items = items;
      list.replaceChildren(...items.map((s, i) => h("li", {
        id: `${uid}-opt-${i}`, role: "option", "aria-selected": "false", lang: s.lang, onclick: () => choose(s),
      }, s.question)));
      st.active = -1;
      setOpen(items.length > 0 && ctx.root.activeElement === input);
      status.textContent = announce ? t.count(items.length) : "";
    }
    function cancelSuggest() {
      clearTimeout(st.timer);
      if (st.sugCtrl) st.sugCtrl.abort();
      st.sugCtrl = null;
      st.seq++; // whatever is in flight is now stale
    }
    function schedule(delay = DEBOUNCE_MS) {
      clearTimeout(st.timer);
      st.timer = setTimeout(suggest, delay);
    }
    async function suggest() {
      const q = input.value.trim();
      cancelSuggest();
      if (!suggestible(q)) {
        if (st.items.length) renderList([], false);
        return;
      }
      const seq = st.seq;
      const ctrl = (st.sugCtrl = new AbortController());
      try {
        const r = await ctx.request("v1/suggest", { params: { q, k: 5, lang: ctx.apiLang }, signal: ctrl.signal });
        if (seq !== st.seq) return; // a newer request, or the box moved on
        st.queryId = r.query_id || null;
        renderList((r.suggestions || []).slice(0, 10));
      } catch {
        // Suggestions are a convenience: when they fail the list just stays as it was; Enter still asks.
      }
    }
    function show(reply) {
      card.replaceChildren(ctx.renderReply(reply, (entry) => show({ kind: "answer", queryId: reply.queryId, entry })));
      status.textContent = reply.kind === "error" ? ctx.message(reply) : t.shown;
    }
    function answer(path, params, toReply) {
      cancelSuggest();
      setOpen(false);
      if (st.ansCtrl) st.ansCtrl.abort();
      const seq = ++st.ansSeq;
      const ctrl = (st.ansCtrl = new AbortController());
      const done = ctx.request(path, { params, signal: ctrl.signal });
      const current = () => seq === st.ansSeq; // only the latest question paints
      ctx.loading(done, () => { if (current()) busy.hidden = false; }, () => { if (current()) busy.hidden = true; })
        .then((r) => current() && show(toReply(r)))
        .catch((e) => current() && !ctrl.signal.aborted && show({ kind: "error", error: e.kind }));
    }
    function submit() {
      const q = input.value.trim();
      if (q) answer("v1/search", { q, k: 3, lang: ctx.apiLang }, fromSearch);
    }
    function choose(s) {
      input.value = s.question;
      const queryId = st.queryId;
      answer(`v1/faq/${encodeURIComponent(s.id)}`, { lang: s.lang }, (f) => fromFaq(f, s.lang, queryId));
    }

    input.addEventListener("compositionstart", () => { st.composing = true; st.japanese = false; });
    input.addEventListener("compositionupdate", (e) => {
      const text = e.data || "";
      st.japanese = st.japanese || nonAscii(text);
      st.wait = st.japanese || text.trim().length < 3;
      if (st.wait) cancelSuggest(); // nothing may fire mid-composition, nor paint over it
    });
    input.addEventListener("compositionend", () => {
      st.composing = st.japanese = st.wait = false;
      schedule(0);
    });
    input.addEventListener("input", () => {
      if (!(st.composing && st.wait)) schedule();
    });
    input.addEventListener("keydown", (e) => {
      if (imeKey(e)) return; // the IME's own Enter, Escape and arrows
      const n = st.items.length;
      const open = !list.hidden;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!n) return;
        if (!open) setOpen(true);
        if (e.altKey) return;
        const down = e.key === "ArrowDown";
        highlight(st.active < 0 ? (down ? 0 : n - 1) : (st.active + (down ? 1 : n - 1)) % n);
      } else if (e.key === "Enter") {
        e.preventDefault();
        if (open && st.active >= 0) choose(st.items[st.active]);
        else submit();
      } else if (e.key === "Escape") {
        if (open) setOpen(false);
        else if (input.value) { input.value = ""; cancelSuggest(); renderList([], false); }
        else return;
        e.preventDefault();
      }
    });
    input.addEventListener("focus", () => { if (st.items.length && input.value.trim()) setOpen(true); });
    input.addEventListener("blur", () => setOpen(false));

    return { el, destroy: cancelSuggest };
  }

  /** The chat launcher; chat.js is imported on first use (or when the pointer comes near). */
  function chatLauncher(ctx) {
    const button = h("button", { type: "button", class: "launcher", "aria-haspopup": "dialog", "aria-expanded": "false" },
      ctx.t.launcher);
    let chat = null;
    const load = () => {
      chat = chat || import(new URL("widget/chat.js", ASSETS).href).then((m) => m.createChat(ctx, button));
      return chat;
    };
    button.addEventListener("pointerenter", () => load().catch(() => { chat = null; }), { once: true });
    button.addEventListener("click", () => load().then((c) => c.open(), () => {
      chat = null;
      ctx.announce(ctx.t.offline);
    }));
    return { el: button, destroy: () => chat && chat.then((c) => c.destroy(), () => {}) };
  }

  const mounted = new WeakMap();

  /**
   * Mount the widget in `element` (its shadow root holds everything).
   * @param {Element} element where the search box goes (the chat launcher floats).
   * @param {{mode?: "search"|"chat"|"both", lang?: "ja"|"en"|"auto", api?: string}} options
   * @returns {{destroy(): void}}
   */
  function mount(element, options = {}) {
    const mode = options.mode || "search";
    if (!["search", "chat", "both"].includes(mode)) throw new TypeError(`AuroraFAQ.mount: unknown mode "${mode}"`);
    if (mounted.has(element)) mounted.get(element).destroy();
    const root = element.shadowRoot || element.attachShadow({ mode: "open" });
    root.replaceChildren();
    if ("adoptedStyleSheets" in root) root.adoptedStyleSheets = [];
    adopt(root, CSS);
    const ctx = context(root, options);
    const live = h("div", { class: "sr", role: "status" });
    ctx.announce = (text) => { live.textContent = text; };
    const parts = [];
    if (mode !== "chat") parts.push(searchBox(ctx));
    if (mode !== "search") parts.push(chatLauncher(ctx));
    root.append(...parts.map((p) => p.el), live);
    const instance = {
      destroy() {
        parts.forEach((p) => p.destroy());
        root.replaceChildren();
        mounted.delete(element);
      },
    };
    mounted.set(element, instance);
    return instance;
  }

  function autoMount() {
    const d = script && script.dataset;
    if (!d || !d.mode) return;
    let target = d.target ? document.querySelector(d.target) : null;
    if (d.target && !target) {
      console.warn(`Aurora FAQ: no element matches data-target "${d.target}"`);
      return;
    }
    if (!target) {
      target = document.createElement("div");
      if (script.isConnected && document.body && document.body.contains(script)) script.before(target);
      else document.body.append(target);
    }
    mount(target, { mode: d.mode, lang: d.lang, api: d.api });
  }

  window.AuroraFAQ = Object.freeze({ mount, version: "1" });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", autoMount, { once: true });
  else autoMount();
})();
