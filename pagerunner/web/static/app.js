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

  // The combos form counts its queries as the user types: the product, over the parameters,
  // of each box's distinct non-empty lines (an empty box leaves its parameter out). The server's
  // Preview gives the exact count after the source has checked and normalised the values.
  document.querySelectorAll("form[data-combos]").forEach(function (form) {
    const output = form.querySelector("[data-combo-count]");
    const boxes = Array.from(form.querySelectorAll("textarea[data-combo-values]"));
    const cap = Number(form.dataset.cap || "0");
    if (!output || boxes.length === 0) return;

    function distinct(box) {
      const seen = new Set();
      box.value.split(/\r\n|\r|\n/).forEach(function (line) {
        const value = line.trim();
        if (value) seen.add(value);
      });
      return seen.size;
    }

    function update() {
      const sizes = boxes.map(distinct).filter(function (n) { return n > 0; });
      const count = sizes.reduce(function (product, n) { return product * n; }, sizes.length ? 1 : 0);
      const over = cap > 0 && count > cap;
      output.dataset.count = String(count);
      delete output.dataset.exact;
      output.classList.toggle("over-cap", over);
      if (count === 0) {
        output.textContent = "No values yet: type one value per line.";
      } else if (over) {
        output.textContent = count + " combinations: more than the cap of " + cap + " queries.";
      } else {
        output.textContent = count + (count === 1 ? " query" : " queries") +
          " will be created (Preview checks the values and gives the exact count).";
      }
    }

    boxes.forEach(function (box) { box.addEventListener("input", update); });
    if (!output.dataset.exact) update(); // keep the server's exact count until something changes
  });

  // Choosing in a select with data-autosubmit submits its form (the button stays for no-JS).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      select.form.requestSubmit();
    });
  });
})();
