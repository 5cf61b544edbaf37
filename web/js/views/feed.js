// The feed: live spaces with someone I follow on stage (GET /v1/feed/live), and my own
// live and scheduled spaces.
import { all, get, me } from "../api.js";
import { h } from "../dom.js";
import { spaceCard } from "./cards.js";

export async function renderFeed(root) {
  const mine = me();
  const [live, own] = await Promise.all([
    all("/v1/feed/live?limit=50", "spaces", 4),
    Promise.all(["live", "scheduled"].map((state) =>
      get(`/v1/spaces?creator_ids=${encodeURIComponent(mine.id)}&state=${state}&limit=50`))),
  ]);
  const shown = new Set(live.map((space) => space.id));
  const ownSpaces = own.flatMap((page) => page.spaces).filter((space) => !shown.has(space.id));
  const feed = h("ul", { class: "cards", testid: "feed" }, live.length ? live.map(spaceCard)
    : h("li", { class: "muted empty" }, "Nobody you follow is on stage right now. ", h("a", { href: "#/search" }, "Find spaces")));
  root.append(
    h("h1", {}, "Live now"),
    feed,
    h("h2", {}, "Your spaces"),
    ownSpaces.length ? h("ul", { class: "cards", testid: "my-spaces" }, ownSpaces.map(spaceCard))
      : h("p", { class: "muted" }, "You have no live or scheduled space. ", h("a", { href: "#/create" }, "Create one")),
  );
}
