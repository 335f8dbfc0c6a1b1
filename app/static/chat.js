/*! Aurora FAQ widget: the chat panel, imported by widget.js the first time its launcher is used. */
const CSS = `
.panel{position:fixed;z-index:var(--aurora-z,2147483000);right:20px;bottom:20px;display:flex;flex-direction:column;
 width:min(380px,calc(100vw - 24px));height:min(600px,calc(100vh - 40px));background:var(--bg);
 border:1px solid var(--bd);border-radius:var(--r);box-shadow:0 12px 40px #0004;overflow:hidden}
.head{display:flex;align-items:center;justify-content:space-between;gap:8px;padding:10px 12px 10px 16px;
 background:var(--ac);color:var(--act)}
.head h2{margin:0;font-size:1em}
.head button{padding:4px 10px;border:1px solid currentColor;border-radius:var(--r);background:transparent;color:inherit}
.head button:focus-visible{outline-color:var(--act)}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px}
.log .card{margin:0}
.me{align-self:flex-end;max-width:85%;margin:0;padding:8px 12px;border-radius:var(--r);background:var(--ac);
 color:var(--act);overflow-wrap:anywhere;white-space:pre-wrap}
.bot{align-self:flex-start;max-width:95%}
.foot{display:flex;gap:6px;padding:10px;border-top:1px solid var(--bd)}
.foot input{flex:1;min-width:0;padding:8px 10px;border:1px solid var(--bd);border-radius:var(--r);background:var(--bg)}
@media (max-width:480px){.panel{inset:0;width:auto;height:auto;border:0;border-radius:0}}
`;
const KEEP = 40; // messages kept in sessionStorage

/**
 * The chat dialog behind `launcher`.
 * @param {object} ctx the widget's context (widget.js `context`).
 * @param {HTMLButtonElement} launcher focus returns here on close.
 * @returns {{open(): void, close(): void, destroy(): void}}
 */
export function createChat(ctx, launcher) {
  const { h, t, uid } = ctx;
  const key = `aurora-faq:chat:${ctx.base}`;
  ctx.adopt(ctx.root, CSS);

  const log = h("div", { class: "log", role: "log", "aria-label": t.title, tabindex: "0" });
  const input = h("input", { type: "text", "aria-label": t.chatLabel, placeholder: t.placeholder, autocomplete: "off",
    enterkeyhint: "send", maxlength: "500" });
  const panel = h("div", { class: "panel", role: "dialog", "aria-modal": "true", "aria-labelledby": `${uid}-title`, hidden: true },
    h("div", { class: "head" },
      h("h2", { id: `${uid}-title` }, t.title),
      h("button", { type: "button", onclick: () => close() }, t.close)),
    log,
    h("div", { class: "foot" }, input, h("button", { type: "button", class: "btn", onclick: () => send() }, t.send)));
  launcher.after(panel);
  launcher.setAttribute("aria-controls", panel.id = `${uid}-chat`);

  let history = [];
  try {
    history = JSON.parse(sessionStorage.getItem(key) || "[]");
    if (!Array.isArray(history)) history = [];
  } catch {
    history = []; // storage off or unreadable: a fresh conversation
  }
  const save = () => {
    history = history.slice(-KEEP);
    try {
      sessionStorage.setItem(key, JSON.stringify(history));
    } catch {
      // full or disabled: the conversation just won't survive a reload
    }
  };

  function add(node) {
    log.append(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }
  function draw(m) {
    if (m.me != null) return add(h("p", { class: "me" }, m.me));
    const reply = m.bot;
    return add(h("div", { class: "bot" }, ctx.renderReply(reply, (entry) => answer({ kind: "answer", queryId: reply.queryId, entry }))));
  }
  function answer(reply, keep = true) {
    if (keep) {
      history.push({ bot: reply });
      save();
    }
    draw({ bot: reply });
  }
  add(h("div", { class: "bot" }, h("div", { class: "card" }, h("p", { class: "a" }, t.greeting))));
  history.forEach(draw);

  let queue = Promise.resolve(); // replies come in the order the questions were asked
  function send() {
    const q = input.value.trim();
    if (!q) return;
    input.value = "";
    history.push({ me: q });
    save();
    draw({ me: q });
    queue = queue.then(() => {
      let typing = null;
      const asked = ctx.request("v1/search", { params: { q, k: 3, lang: ctx.apiLang } });
      return ctx.loading(asked, () => { typing = add(h("p", { class: "bot muted" }, t.loading)); }, () => typing && typing.remove())
        .then(ctx.fromSearch)
        .then((reply) => answer(reply), (e) => answer({ kind: "error", error: e.kind }, false));
    });
  }

  const focusables = () => [...panel.querySelectorAll("button,input,a[href],[tabindex]")]
    .filter((el) => !el.disabled && el.getClientRects().length);
  panel.addEventListener("keydown", (e) => {
    if (ctx.imeKey(e)) return; // Enter confirms, Escape cancels the composition: neither sends nor closes
    if (e.key === "Escape") {
      e.preventDefault();
      close();
    } else if (e.key === "Enter" && e.target === input) {
      e.preventDefault();
      send();
    } else if (e.key === "Tab") {
      const all = focusables();
      const at = all.indexOf(ctx.root.activeElement);
      const next = e.shiftKey ? (at <= 0 ? all.length - 1 : at - 1) : (at + 1) % all.length;
      e.preventDefault();
      all[next].focus();
    }
  });
  // A modal dialog: focus that lands anywhere else (a click on the page) comes back.
  const keepFocus = (e) => {
    if (!panel.hidden && !e.composedPath().includes(panel)) input.focus();
  };

  /** Opens (focus into the textbox) or closes (focus back on the launcher) the dialog. */
  function toggle(open) {
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    document[open ? "addEventListener" : "removeEventListener"]("focusin", keepFocus);
    (open ? input : launcher).focus();
    log.scrollTop = log.scrollHeight;
  }
  const close = () => toggle(false);
  return { open: () => toggle(true), close, destroy: () => document.removeEventListener("focusin", keepFocus) };
}
