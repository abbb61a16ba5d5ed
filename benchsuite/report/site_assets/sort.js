// Sortable tables for the published leaderboards. A header's first click puts the best
// values first (its data-better says which direction is better), the second the worst first,
// the third restores the published order. Cells sort by their data-value number where they
// have one, else by text; empty cells ("–") always go last.
"use strict";

function sortKey(cell) {
  if (cell.dataset.value !== undefined) return Number(cell.dataset.value);
  const text = cell.textContent.trim();
  return text === "" || text === "–" ? null : text.toLowerCase();
}

function compare(a, b, descending) {
  if (a === null || b === null) return a === null ? (b === null ? 0 : 1) : -1;
  const order = typeof a === "number" && typeof b === "number"
    ? a - b
    : String(a).localeCompare(String(b), undefined, { numeric: true });
  return descending ? -order : order;
}

function makeSortable(table) {
  const body = table.tBodies[0];
  const published = Array.from(body.rows);
  const headers = Array.from(table.tHead.rows[0].cells);
  headers.forEach((header, column) => {
    const button = header.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const better = header.dataset.better || "lower";
      const first = better === "higher" ? "descending" : "ascending";
      const second = first === "descending" ? "ascending" : "descending";
      const state = header.getAttribute("aria-sort");
      const next = state === first ? second : state === second ? "none" : first;
      headers.forEach((h) => h.setAttribute("aria-sort", "none"));
      header.setAttribute("aria-sort", next);
      let rows = published.slice();
      if (next !== "none") {
        const keyed = rows.map((row, index) => [sortKey(row.cells[column]), index, row]);
        keyed.sort((x, y) => compare(x[0], y[0], next === "descending") || x[1] - y[1]);
        rows = keyed.map((entry) => entry[2]);
      }
      table.classList.toggle("resorted", next !== "none");
      rows.forEach((row) => body.appendChild(row));
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(makeSortable);
});
