// Sign up and sign in: both answer {user, token, refresh_token}; then the page the person
// wanted (the hash they came with), or the feed.
import { api, currentSession, setSession } from "../api.js";
import { showError } from "../errors.js";
import { busy, field, h } from "../dom.js";
import { go } from "../router.js";

function afterSignIn() {
  const wanted = location.hash.replace(/^#/, "");
  go(wanted && !/^\/(signin|signup)\b/.test(wanted) ? `#${wanted}` : "#/");
}

export function renderSignIn(root) {
  if (currentSession()) return go("#/");
  const handle = field("Handle", "signin-handle", { autocomplete: "username", autocapitalize: "none" });
  const password = field("Password", "signin-password", { type: "password", autocomplete: "current-password" });
  const submit = h("button", { type: "submit", testid: "signin-submit" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"), handle.el, password.el, submit,
    h("p", {}, "New here? ", h("a", { href: "#/signup" }, "Create an account")));
  form.addEventListener("submit", busy(submit, async () => {
    const auth = await api("POST", "/v1/sessions", { handle: handle.control.value.trim(), password: password.control.value },
      { auth: false });
    setSession(auth);
    afterSignIn();
  }, showError));
  root.append(form);
  handle.control.focus();
}

export function renderSignUp(root) {
  if (currentSession()) return go("#/");
  const handle = field("Handle (3–15 letters, digits or _)", "signup-handle",
    { autocomplete: "username", autocapitalize: "none" });
  const name = field("Display name", "signup-name", { autocomplete: "name" });
  const password = field("Password (at least 8 characters)", "signup-password",
    { type: "password", autocomplete: "new-password" });
  const submit = h("button", { type: "submit", testid: "signup-submit" }, "Create account");
  const form = h("form", { class: "card narrow", "aria-labelledby": "signup-title" },
    h("h1", { id: "signup-title" }, "Create your account"), handle.el, name.el, password.el, submit,
    h("p", {}, "Have an account? ", h("a", { href: "#/signin" }, "Sign in")));
  form.addEventListener("submit", busy(submit, async () => {
    const auth = await api("POST", "/v1/accounts", {
      handle: handle.control.value.trim(), display_name: name.control.value.trim(), password: password.control.value,
    }, { auth: false });
    setSession(auth);
    afterSignIn();
  }, showError));
  root.append(form);
  handle.control.focus();
}
