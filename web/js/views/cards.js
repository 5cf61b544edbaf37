// A space in a list: `space-card` with data-space-id and data-state, linking to its page.
import { h, money, when } from "../dom.js";

export function spaceCard(space) {
  const details = [];
  if (space.state === "live") details.push(`${space.listener_count} listening`);
  if (space.state === "scheduled" && space.scheduled_start) details.push(`starts ${when(space.scheduled_start)}`);
  if (space.state === "ended" && space.ended_at) details.push(`ended ${when(space.ended_at)}`);
  if (space.ticket) details.push(money(space.ticket.price_cents, space.ticket.currency));
  return h("li", { class: `space-card state-${space.state}`, testid: "space-card", dataset: { spaceId: space.id, state: space.state } },
    h("a", { href: `#/spaces/${encodeURIComponent(space.id)}`, class: "space-link" }, space.title),
    h("span", { class: `badge badge-${space.state}` }, space.state),
    space.has_replay ? h("span", { class: "badge", testid: "has-replay" }, "replay") : null,
    details.length ? h("span", { class: "muted" }, details.join(" · ")) : null);
}

export function spaceList(testid, spaces, empty) {
  if (!spaces.length) return h("p", { class: "muted", testid: `${testid}-empty` }, empty);
  return h("ul", { class: "cards", testid }, spaces.map(spaceCard));
}
