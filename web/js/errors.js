// What each API error code (docs/ERRORS.md) means to a person using the page. An unknown
// code shows the API's own message; codes whose message names the detail (a field, the
// wait) show it beside ours.
export const MESSAGES = {
  already_has_ticket: "You already have a ticket to this space.",
  already_hosting: "You are already hosting a live space. End it before starting another.",
  already_speaking: "You are already on stage.",
  bad_frame: "The live connection sent something it should not have. Reload the page.",
  bad_offer: "Your browser's audio offer was refused. Reload the page and join again.",
  banned: "The host banned you from this space.",
  body_too_large: "That is too long to send.",
  cannot_follow_self: "You cannot follow yourself.",
  cannot_remove_self: "Use Leave to leave the space.",
  cannot_target_host: "Nobody can do that to the host.",
  checkout_in_progress: "Your checkout is already open; try again in a moment.",
  clipping_disabled: "The host turned clipping off for this space.",
  conflict: "That conflicts with a change made meanwhile; try again.",
  domain_rule: "That is not allowed here.",
  email_taken: "That email address belongs to another account.",
  forbidden: "You may not do that.",
  handle_taken: "That handle is taken; choose another.",
  hls_unavailable: "Listening over HLS is not available here; join without it.",
  host_cannot_buy: "Hosts do not buy tickets to their own space.",
  idempotency_key_reused: "That request was already sent with different content.",
  insufficient_rank: "You can only do that to people below you in the room.",
  internal_error: "Something went wrong on Parlor's side. Try again later.",
  invalid_credentials: "Wrong handle or password.",
  invalid_cursor: "That page of results is no longer valid; reload.",
  invalid_device_token: "This device cannot receive push notifications.",
  invalid_idempotency_key: "The request could not be sent safely; reload the page.",
  invalid_lang: "That is not a language tag (such as en or pt-BR).",
  invalid_reaction: "That reaction is not available.",
  invalid_scheduled_start: "Choose a start time in the future, at most 30 days ahead.",
  invalid_signature: "The request's signature was refused.",
  invalid_state: "The space is not in a state that allows this.",
  invalid_text: "That text contains characters that are not allowed.",
  invalid_token: "Your sign-in is no longer valid. Sign in again.",
  join_conflict: "Could not join; try again.",
  listening_on_hls: "You are listening over HLS in this space.",
  media_starting: "The room's audio is starting; trying again…",
  media_unavailable: "The room's audio is unavailable right now; try again shortly.",
  message_not_found: "That message is not in this room's chat.",
  method_not_allowed: "The page asked the API for something it does not do.",
  missing_token: "Sign in first.",
  muted: "You are muted.",
  network_error: "Parlor cannot be reached. Check your connection and try again.",
  no_replay_yet: "This space has no replay yet.",
  not_eligible_to_host: "Hosting needs more followers.",
  not_following: "You do not follow that person.",
  not_found: "Not found.",
  not_host: "Only the host may do that.",
  not_in_space: "You are not in this space. Join it first.",
  not_moderator: "Only the host and co-hosts may do that.",
  not_speaking: "Only people on stage can be muted.",
  not_ticketed: "This space is free: no ticket needed.",
  nothing_to_clip: "There is no audio to clip yet; try again in a few seconds.",
  participant_changed: "That person changed meanwhile; try again.",
  payments_unavailable: "Payments are unreachable right now; try again shortly.",
  payouts_not_enabled: "Set up payouts before selling tickets.",
  push_not_configured: "Push notifications are not set up here.",
  rate_limited: "Too many requests; slow down a little.",
  recipient_not_in_space: "That person is no longer in the space.",
  recording_fixed: "Recording can only be changed before the space goes live.",
  refresh_token_reused: "You were signed out for safety. Sign in again.",
  replay_not_found: "This space has no replay.",
  replay_processing: "The recording is being finished; try again in a few seconds.",
  request_in_progress: "That is already being handled; try again shortly.",
  request_refused: "The request was refused.",
  reset_token_invalid: "This password-reset link is no longer valid; ask for a new one.",
  role_limit_reached: "That role is full.",
  route_not_found: "The page asked the API for something that does not exist.",
  session_expired: "Your session expired. Sign in again.",
  session_revoked: "You were signed out. Sign in again.",
  sold_out: "Sold out: no tickets left.",
  space_not_found: "This space does not exist.",
  ticket_required: "You need a ticket to join this space.",
  ticketed_must_be_scheduled: "A ticketed space must be scheduled, so buyers have time.",
  token_expired: "Your sign-in expired. Sign in again.",
  token_used: "The live connection needs a fresh token; join again.",
  too_many_attempts: "Too many attempts.",
  too_many_scheduled: "You have too many scheduled spaces.",
  too_many_sockets: "This space is open in too many of your tabs.",
  unauthorized: "Sign in first.",
  unavailable: "Parlor is briefly unavailable; try again shortly.",
  unknown_action: "The live connection refused that action.",
  unknown_topic: "Pick topics from the list.",
  unmute_self_only: "Only the speaker can unmute themselves.",
  unsupported_media_type: "The page sent something the API does not read.",
  user_not_found: "No such person.",
  validation_error: "Please check what you entered.",
  weak_password: "Choose a stronger password.",
};

// The API's message adds what ours cannot know: which field, how long to wait.
const WITH_DETAIL = new Set(["validation_error", "weak_password", "invalid_text", "invalid_lang", "unknown_topic", "domain_rule",
  "too_many_attempts", "rate_limited", "body_too_large"]);

export function describe(error) {
  const code = error && error.code;
  const ours = code ? MESSAGES[code] : undefined;
  if (!ours) return (error && error.message) || "Something went wrong.";
  let text = ours;
  if (WITH_DETAIL.has(code) && error.message && error.message !== ours) text += ` (${error.message})`;
  if (error.retryAfter) text += ` Try again in ${error.retryAfter} s.`;
  return text;
}

/** Show an error in the page's one error region (`data-testid="error"`, `data-code`). */
export function showError(error) {
  const bar = document.getElementById("error-bar");
  const text = document.querySelector('[data-testid="error"]');
  if (!bar || !text) return;
  text.dataset.code = (error && error.code) || "client_error";
  text.textContent = describe(error);
  text.title = error && error.requestId ? `request id ${error.requestId}` : "";
  bar.hidden = false;
}

export function clearError() {
  const bar = document.getElementById("error-bar");
  const text = document.querySelector('[data-testid="error"]');
  if (!bar || !text) return;
  bar.hidden = true;
  text.dataset.code = "";
  text.textContent = "";
}
