// Start: read config.json, then render the route the hash names; the header follows the session.
import { api, currentSession, me, onSessionChange, setSession } from "./api.js";
import { loadConfig } from "./config.js";
import { clearError, showError } from "./errors.js";
import { go, start } from "./router.js";
import { renderSignIn, renderSignUp } from "./views/auth.js";
import { renderCreate } from "./views/create.js";
import { renderFeed } from "./views/feed.js";
import { renderInbox } from "./views/inbox.js";
import { renderPayouts } from "./views/payouts.js";
import { renderProfile } from "./views/profile.js";
import { renderSearch } from "./views/search.js";
import { renderSpace } from "./views/space.js";

const VIEWS = {
  feed: renderFeed, signup: renderSignUp, signin: renderSignIn, create: renderCreate, search: renderSearch,
  inbox: renderInbox, payouts: renderPayouts, space: renderSpace, user: renderProfile,
};
const PUBLIC = new Set(["signup", "signin"]);
let cleanup = null;
let pendingError = null; // why the session ended, shown on the sign-in page
let generation = 0;

function renderHeader() {
  const user = me();
  document.getElementById("nav").hidden = !user;
  const whoami = document.getElementById("whoami");
  whoami.hidden = !user;
  whoami.textContent = user ? `@${user.handle}` : "";
  document.getElementById("signout").hidden = !user;
  document.getElementById("signin-link").hidden = Boolean(user);
  document.getElementById("signup-link").hidden = Boolean(user);
}

async function render(route) {
  generation += 1;
  const mine = generation;
  if (cleanup) {
    const done = cleanup;
    cleanup = null;
    try {
      await done();
    } catch {
      // leaving a page must never stop the next one from showing
    }
  }
  if (mine !== generation) return;
  clearError();
  if (pendingError) {
    showError(pendingError);
    pendingError = null;
  }
  const root = document.getElementById("view");
  root.replaceChildren();
  let name = route.name;
  if (!currentSession() && !PUBLIC.has(name)) name = "signin";
  if (name === "not_found") {
    root.append(Object.assign(document.createElement("p"), { textContent: "No such page." }));
    return;
  }
  try {
    const result = await VIEWS[name](root, route, { isCurrent: () => mine === generation });
    if (mine === generation) cleanup = typeof result === "function" ? result : null;
    else if (typeof result === "function") await result();
  } catch (error) {
    if (mine === generation) showError(error);
  }
}

async function main() {
  document.querySelector(".error-close").addEventListener("click", clearError);
  // A link to the page already shown reloads it (the feed, the inbox): no hashchange fires.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#"]');
    if (link && link.getAttribute("href") === (location.hash || "#/") && !event.defaultPrevented) {
      event.preventDefault();
      go(link.getAttribute("href"));
    }
  });
  try {
    await loadConfig();
  } catch (error) {
    showError({ code: "config_missing", message: `The page cannot start: ${error.message}` });
    return;
  }
  document.getElementById("signout").addEventListener("click", async () => {
    try {
      await api("DELETE", "/v1/sessions");
    } catch {
      // signed out locally whatever the API says
    }
    setSession(null);
    go("#/signin");
  });
  let signedIn = Boolean(currentSession());
  onSessionChange((session, why) => {
    renderHeader();
    if (signedIn && !session) {
      pendingError = why;
      go("#/signin");
    }
    signedIn = Boolean(session);
  });
  renderHeader();
  start(render);
}

main();
