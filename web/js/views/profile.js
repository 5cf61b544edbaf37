// A profile: follow / unfollow (PUT / DELETE /v1/me/following/{id}) and their spaces.
import { all, del, get, me, put } from "../api.js";
import { showError } from "../errors.js";
import { busy, h } from "../dom.js";
import { spaceList } from "./cards.js";

export async function renderProfile(root, route) {
  const id = route.id;
  const self = me();
  const [user, following, spaces] = await Promise.all([
    get(`/v1/users/${encodeURIComponent(id)}`),
    id === self.id ? Promise.resolve([]) : all(`/v1/users/${encodeURIComponent(self.id)}/following?limit=100`, "users"),
    Promise.all(["live", "scheduled", "ended"].map((state) =>
      get(`/v1/spaces?creator_ids=${encodeURIComponent(id)}&state=${state}&limit=20`))),
  ]);
  let isFollowing = following.some((u) => u.id === id);
  const count = h("span", { testid: "follower-count" }, String(user.follower_count));
  const slot = h("div", { class: "follow-slot" });
  const renderButton = () => {
    if (id === self.id) return slot.replaceChildren(h("p", { class: "muted" }, "This is you."));
    const button = isFollowing ? h("button", { type: "button", testid: "unfollow", class: "secondary" }, "Unfollow")
      : h("button", { type: "button", testid: "follow" }, "Follow");
    button.addEventListener("click", busy(button, async () => {
      const answer = isFollowing ? await del(`/v1/me/following/${encodeURIComponent(id)}`)
        : await put(`/v1/me/following/${encodeURIComponent(id)}`);
      isFollowing = answer.following;
      count.textContent = String(answer.user.follower_count);
      renderButton();
      slot.querySelector("button").focus();
    }, showError));
    slot.replaceChildren(button);
  };
  renderButton();
  root.append(
    h("section", { class: "card" },
      h("h1", { testid: "profile-name" }, user.display_name),
      h("p", { class: "muted", testid: "profile-handle" }, `@${user.handle}`),
      user.bio ? h("p", {}, user.bio) : null,
      h("p", {}, count, " followers · ", String(user.following_count), " following"),
      slot),
    h("h2", {}, "Spaces"),
    spaceList("profile-spaces", spaces.flatMap((page) => page.spaces), "No spaces yet."));
}
