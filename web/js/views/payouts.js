// Payouts: Stripe Connect onboarding for hosts who sell tickets. Stripe's page sends the
// host back here (#/payouts?onboarding=return), as the API was told ({"client": "web"}).
import { post } from "../api.js";
import { showError } from "../errors.js";
import { busy, h } from "../dom.js";

export function onboardingButton() {
  const button = h("button", { type: "button", testid: "payouts-onboarding" }, "Set up payouts with Stripe");
  button.addEventListener("click", busy(button, async () => {
    const { url } = await post("/v1/me/payouts/onboarding", { client: "web" });
    window.location.assign(url);
  }, showError));
  return button;
}

export function renderPayouts(root, route) {
  const back = route.query.get("onboarding") === "return";
  root.append(h("section", { class: "card narrow" },
    h("h1", {}, "Payouts"),
    back ? h("p", { testid: "onboarding-status", class: "ok" },
      "Welcome back from Stripe. Once Stripe has checked your details you can sell tickets: ",
      h("a", { href: "#/create" }, "create a ticketed space")) : null,
    h("p", {}, "Parlor pays hosts through Stripe. Finish Stripe's onboarding once before pricing a space; "
      + "you can open it again to change your details."),
    onboardingButton()));
}
