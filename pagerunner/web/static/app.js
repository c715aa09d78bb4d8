// pagerunner's pages, live: every element with data-live="URL" is replaced every 3 s by the
// fragment the server renders at URL (the same templates as the page, so the same escaping).
// Without JavaScript the pages still work; they just do not refresh themselves.
"use strict";
(function () {
  const INTERVAL_MS = 3000;
  const announcer = document.getElementById("live-announcer");
  const shown = new WeakMap(); // element -> the last fragment put in it
  const said = new WeakMap(); // element -> its last summary (announced only when it changes)

  function summary(box) {
    const element = box.querySelector("[data-summary]");
    return element ? element.dataset.summary : "";
  }

  function announce(box) {
    const text = summary(box);
    if (announcer && text && said.get(box) !== text) announcer.textContent = text;
    said.set(box, text);
  }

  // Returns false when polling should stop (signed out, page gone).
  async function refresh(box) {
    let response;
    try {
      response = await fetch(box.dataset.live, { credentials: "same-origin", cache: "no-store" });
    } catch (error) {
      return true; // the server is restarting or the network blinked: try again later
    }
    if (response.status === 401 || response.status === 404 || response.redirected) return false;
    if (!response.ok) return true;
    const html = await response.text();
    if (html === shown.get(box)) return true;
    const focused = box.contains(document.activeElement) ? document.activeElement.id : "";
    box.innerHTML = html;
    shown.set(box, html);
    const again = focused && document.getElementById(focused);
    if (again) again.focus();
    announce(box);
    return true;
  }

  function poll(box) {
    setTimeout(async function () {
      if (document.hidden || (await refresh(box))) poll(box);
    }, INTERVAL_MS);
  }

  document.querySelectorAll("[data-live]").forEach(function (box) {
    said.set(box, summary(box));
    poll(box);
  });

  // Choosing in a select with data-autosubmit submits its form (the button stays for no-JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.requestSubmit();
    });
  });
})();
