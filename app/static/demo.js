// The demo storefront's own script (not part of the widget): ?lang=en switches the page to English.
// It runs before the widget tag is parsed, so the widget's data-lang="auto" reads the new <html lang>.
(() => {
  "use strict";
  const en = new URLSearchParams(location.search).get("lang") === "en";
  if (!en) return;
  document.documentElement.lang = "en";
  document.addEventListener("DOMContentLoaded", () => {
    document.title = "AuroraBoutique | FAQ";
    for (const el of document.querySelectorAll("[data-en]")) el.textContent = el.dataset.en;
    for (const el of document.querySelectorAll("[data-en-aria-label]")) el.setAttribute("aria-label", el.dataset.enAriaLabel);
    const sw = document.getElementById("lang-switch");
    sw.textContent = "日本語";
    sw.href = "/demo";
    sw.lang = sw.hreflang = "ja";
  });
})();
