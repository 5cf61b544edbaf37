// Create a space: live now, or scheduled; recorded unless unticked; ticketed when priced
// (needs payouts: the onboarding button opens Stripe's page).
import { api } from "../api.js";
import { showError } from "../errors.js";
import { busy, field, h } from "../dom.js";
import { go } from "../router.js";
import { onboardingButton } from "./payouts.js";

export function renderCreate(root) {
  const title = field("Title", "create-title", { maxlength: "70" });
  const topics = field("Topics (comma-separated, up to 3, such as tech, music, sports)", "create-topics", {});
  const scheduled = field("Starts at (empty: now)", "create-scheduled", { type: "datetime-local" });
  const recording = field("Record this space (replay and clips)", "create-recording", { type: "checkbox", checked: true });
  const clipping = field("Let people clip it", "create-clipping", { type: "checkbox", checked: true });
  const price = field("Ticket price in dollars (empty: free)", "create-ticket-price",
    { type: "number", min: "1", max: "999", step: "0.01", inputmode: "decimal" });
  const max = field("Tickets for sale", "create-ticket-max", { type: "number", min: "1", step: "1", value: "50" });
  recording.el.classList.add("check");
  clipping.el.classList.add("check");
  const submit = h("button", { type: "submit", testid: "create-submit" }, "Create space");
  const form = h("form", { class: "card narrow", "aria-labelledby": "create-title-h" },
    h("h1", { id: "create-title-h" }, "Create a space"), title.el, topics.el, scheduled.el, recording.el, clipping.el,
    h("fieldset", {}, h("legend", {}, "Tickets (scheduled spaces only)"), price.el, max.el), submit);
  form.addEventListener("submit", busy(submit, async () => {
    const body = { title: title.control.value.trim(), recording: recording.control.checked, clipping: clipping.control.checked };
    const topicList = topics.control.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (topicList.length) body.topics = topicList;
    if (scheduled.control.value) body.scheduled_start = new Date(scheduled.control.value).toISOString();
    if (price.control.value.trim()) {
      body.ticket = {
        price_cents: Math.round(Number(price.control.value) * 100),
        currency: "usd",
        max_tickets: Number(max.control.value || 50),
      };
    }
    const space = await api("POST", "/v1/spaces", body);
    go(`#/spaces/${encodeURIComponent(space.id)}`);
  }, showError));

  root.append(form, h("section", { class: "card narrow" }, h("h2", {}, "Selling tickets"),
    h("p", {}, "Hosts are paid through Stripe. Finish onboarding once before pricing a space."), onboardingButton()));
  title.control.focus();
}
