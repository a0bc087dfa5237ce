// Keeps the incident list current: every few seconds its rows are fetched again and swapped in.
// Without this script the page works the same; it only needs a reload to show new incidents.
"use strict";
(function () {
  const table = document.querySelector("table[data-live]");
  if (!table) return;
  const body = table.querySelector("tbody");
  const url = table.getAttribute("data-live");
  let last = body.innerHTML;
  async function refresh() {
    try {
      const reply = await fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (reply.ok && reply.url.indexOf("/ui/login") < 0) {
        const rows = await reply.text();
        if (rows !== last) {
          body.innerHTML = rows;
          last = rows;
        }
      }
    } catch (error) {
      // The daemon restarting or the network gone: try again at the next tick.
    }
    setTimeout(refresh, document.hidden ? 15000 : 2000);
  }
  setTimeout(refresh, 2000);
})();
