// Search spaces: GET /v1/spaces?state=&q= (title words).
import { get } from "../api.js";
import { showError } from "../errors.js";
import { busy, field, h } from "../dom.js";
import { spaceCard } from "./cards.js";

export function renderSearch(root, route) {
  const q = field("Title contains", "search-q", { type: "search", value: route.query.get("q") || "" });
  const state = field("State", "search-state", {}, "select");
  for (const value of ["live", "scheduled", "ended"]) state.control.append(h("option", { value }, value));
  state.control.value = route.query.get("state") || "live";
  const submit = h("button", { type: "submit", testid: "search-submit" }, "Search");
  const results = h("ul", { class: "cards", testid: "search-results", "aria-live": "polite" });
  const form = h("form", { class: "card row-form", role: "search" }, q.el, state.el, submit);
  const run = async () => {
    const params = new URLSearchParams({ state: state.control.value, limit: "50" });
    if (q.control.value.trim()) params.set("q", q.control.value.trim());
    const page = await get(`/v1/spaces?${params}`);
    results.replaceChildren(...(page.spaces.length ? page.spaces.map(spaceCard)
      : [h("li", { class: "muted empty" }, "No spaces found.")]));
  };
  form.addEventListener("submit", busy(submit, run, showError));
  root.append(h("h1", {}, "Search"), form, results);
  q.control.focus();
}
