// The inbox: GET /v1/me/notifications (newest first), each linking to its space; mark all read.
import { get, post } from "../api.js";
import { showError } from "../errors.js";
import { busy, h, when } from "../dom.js";

export async function renderInbox(root) {
  const list = h("ul", { class: "inbox", testid: "inbox" });
  const unread = h("span", { testid: "unread-count" });
  const markAll = h("button", { type: "button", testid: "mark-all-read" }, "Mark all read");
  const load = async () => {
    const page = await get("/v1/me/notifications?limit=50");
    unread.textContent = String(page.unread_count);
    list.replaceChildren(...page.notifications.map((n) => h("li", {
      class: n.read ? "inbox-item" : "inbox-item unread", testid: "inbox-item",
      dataset: { kind: n.kind, read: String(n.read), notificationId: n.id },
    }, h("a", { href: `#/spaces/${encodeURIComponent(n.space_id)}` }, n.title), h("p", {}, n.body),
    h("span", { class: "muted" }, when(n.created_at)))));
    if (!page.notifications.length) list.append(h("li", { class: "muted" }, "Nothing yet."));
  };
  markAll.addEventListener("click", busy(markAll, async () => {
    await post("/v1/me/notifications/read", { all: true });
    await load();
  }, showError));
  root.append(h("div", { class: "heading-row" }, h("h1", {}, "Inbox"), h("p", {}, "Unread: ", unread), markAll), list);
  await load();
}
