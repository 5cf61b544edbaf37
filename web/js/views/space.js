// A space's page: its header, then the lobby (join, remind, buy a ticket, start, cancel,
// replay) or, once joined, the room (stage, audience, own controls, moderation, chat,
// reactions, clips). The room follows the realtime events; audio is room.js's.
import { ApiError, all, api, del, get, me, post, put, user } from "../api.js";
import { clearError, showError } from "../errors.js";
import { config } from "../config.js";
import { busy, field, h, money, when } from "../dom.js";
import { Realtime } from "../realtime.js";
import { RoomAudio, onStage, playHls } from "../room.js";

const EMOJI = ["👏", "❤️", "😂", "🔥", "💯", "🙌", "👋", "😮"];
const RANK = { host: 3, cohost: 2, speaker: 1, listener: 0 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const path = (id, rest = "") => `/v1/spaces/${encodeURIComponent(id)}${rest}`;

export async function renderSpace(root, route, ctx) {
  const page = new SpacePage(root, route.id, route.query, ctx);
  await page.open();
  return () => page.close();
}

class SpacePage {
  constructor(root, id, query, ctx) {
    this.root = root;
    this.id = id;
    this.query = query;
    this.ctx = ctx;
    this.self = me();
    this.space = null;
    this.ticket = null;
    this.closed = false;
    this.room = null; // set while joined
    this.lobbyPoll = null;
  }

  get isHost() {
    return this.space.creator_id === this.self.id;
  }

  async open() {
    const [space, tickets] = await Promise.all([get(path(this.id)), this.loadTicket()]);
    this.space = space;
    this.ticket = tickets;
    this.header = h("header", { class: "space-header card" });
    this.notice = h("div", { class: "notice", "aria-live": "polite" });
    this.body = h("div", { class: "space-body" });
    this.root.append(this.header, this.notice, this.body);
    this.renderHeader();
    this.renderLobby();
    const checkout = this.query.get("checkout");
    if (checkout === "success") this.awaitTicket();
    else if (checkout === "cancel") {
      this.notice.replaceChildren(h("p", { testid: "checkout-status", dataset: { status: "canceled" } },
        "Checkout canceled: no payment was taken."));
    }
    this.lobbyPoll = setInterval(() => this.pollLobby(), 5000);
  }

  async close() {
    this.closed = true;
    clearInterval(this.lobbyPoll);
    if (this.room) {
      // Leaving the page leaves the room, as the Leave button does.
      this.teardownRoom();
      await post(path(this.id, "/leave")).catch(() => {});
    }
  }

  async loadTicket() {
    const tickets = await all("/v1/me/tickets?limit=100", "tickets", 5).catch(() => []);
    const mine = tickets.filter((t) => t.space_id === this.id);
    return mine.find((t) => t.status === "paid") || mine[0] || null;
  }

  async refreshSpace() {
    this.space = await get(path(this.id));
    this.renderHeader();
    return this.space;
  }

  async pollLobby() {
    if (this.room || this.closed || document.hidden) return;
    const before = this.space.state;
    try {
      await this.refreshSpace();
    } catch {
      return;
    }
    if (this.space.state !== before && !this.room && !this.busyLobby) this.renderLobby();
  }

  // ---- header --------------------------------------------------------------------------

  renderHeader() {
    const s = this.space;
    const hostLink = h("a", { testid: "host-link", href: `#/users/${encodeURIComponent(s.creator_id)}` }, "the host");
    user(s.creator_id).then((u) => { hostLink.textContent = `@${u.handle}`; }).catch(() => {});
    const recording = s.state === "live" && s.recording;
    this.header.replaceChildren(
      h("h1", { testid: "space-title" }, s.title),
      h("p", { class: "meta" },
        h("span", { testid: "space-state", class: `badge badge-${s.state}` }, s.state),
        recording ? h("span", { testid: "recording-indicator", class: "badge badge-rec", title: "This space is being recorded" },
          "● REC") : null,
        h("span", {}, h("span", { testid: "listener-count" }, String(s.listener_count)), " listening"),
        h("span", {}, "hosted by ", hostLink),
        s.scheduled_start && s.state === "scheduled" ? h("span", {}, `starts ${when(s.scheduled_start)}`) : null,
        s.ticket ? h("span", { testid: "ticket-price" },
          `${money(s.ticket.price_cents, s.ticket.currency)} · ${s.ticket.max_tickets - s.ticket.tickets_sold} left`) : null,
        s.topic_ids && s.topic_ids.length ? h("span", { class: "muted" }, s.topic_ids.join(", ")) : null));
  }

  // ---- lobby ---------------------------------------------------------------------------

  holdsTicket() {
    return Boolean(this.ticket && this.ticket.status === "paid");
  }

  renderLobby(closedReason = null) {
    const s = this.space;
    const parts = [];
    if (closedReason) parts.push(roomClosed(closedReason));
    const mayBuy = s.is_ticketed && !this.isHost && !this.holdsTicket() && (s.state === "scheduled" || s.state === "live");
    if (s.is_ticketed && this.holdsTicket()) parts.push(h("p", { testid: "ticket-held", class: "ok" }, "You have a ticket."));
    if (mayBuy) {
      const buy = h("button", { type: "button", testid: "buy-ticket" },
        `Buy a ticket (${money(s.ticket.price_cents, s.ticket.currency)})`);
      buy.addEventListener("click", busy(buy, () => this.buyTicket(), showError));
      parts.push(buy);
    }
    if (s.state === "live") {
      const hls = field("Listen over HLS (for slow connections)", "join-hls", { type: "checkbox" });
      hls.el.classList.add("check");
      const join = h("button", { type: "button", testid: "join", class: "primary" }, "Join");
      join.addEventListener("click", busy(join, () => this.join(hls.control.checked), showError));
      parts.push(h("div", { class: "row" }, join, hls.el));
    }
    if (s.state === "scheduled") {
      parts.push(this.reminderButton());
      if (this.isHost) {
        const start = h("button", { type: "button", testid: "start-space", class: "primary" }, "Start now");
        start.addEventListener("click", busy(start, async () => {
          this.space = await post(path(this.id, "/start"));
          this.renderHeader();
          this.renderLobby();
        }, showError));
        const cancel = h("button", { type: "button", testid: "cancel-space", class: "danger" }, "Cancel space");
        cancel.addEventListener("click", busy(cancel, async () => {
          if (!window.confirm("Cancel this space? Ticket buyers are refunded.")) return;
          this.space = await post(path(this.id, "/cancel"));
          this.renderHeader();
          this.renderLobby();
        }, showError));
        parts.push(h("div", { class: "row" }, start, cancel));
      }
    }
    if (s.state === "ended") {
      parts.push(h("p", {}, `This space ended ${when(s.ended_at)}.`));
      if (s.has_replay) parts.push(this.replayPlayer());
      else parts.push(h("p", { class: "muted" }, "It left no replay."));
    }
    if (s.state === "canceled") parts.push(h("p", {}, "This space was canceled."));
    this.body.replaceChildren(h("section", { class: "card lobby", testid: "lobby" }, parts));
  }

  reminderButton() {
    const key = `parlor.reminder.${this.self.id}.${this.id}`;
    const slot = h("span");
    const draw = () => {
      const on = localStorage.getItem(key) === "1";
      const button = on ? h("button", { type: "button", testid: "reminded", class: "secondary", "aria-pressed": "true" },
        "Reminder set ✓") : h("button", { type: "button", testid: "remind-me", "aria-pressed": "false" }, "Remind me");
      button.addEventListener("click", busy(button, async () => {
        const answer = on ? await del(path(this.id, "/reminder")) : await put(path(this.id, "/reminder"));
        if (answer.reminding) localStorage.setItem(key, "1");
        else localStorage.removeItem(key);
        this.space.subscriber_count = answer.subscriber_count;
        draw();
        slot.querySelector("button").focus();
      }, showError));
      slot.replaceChildren(button);
    };
    draw();
    return slot;
  }

  async buyTicket() {
    const { checkout_url: url } = await post(path(this.id, "/tickets/checkout"), { client: "web" });
    window.location.assign(url);
  }

  // Back from Stripe: the webhook (or the reconciler) turns the hold into a ticket shortly.
  async awaitTicket() {
    const status = h("p", { testid: "checkout-status", dataset: { status: "pending" } },
      "Payment received; confirming your ticket…");
    this.notice.replaceChildren(status);
    const deadline = Date.now() + 120_000;
    while (!this.closed && Date.now() < deadline) {
      try {
        this.ticket = await this.loadTicket();
      } catch {
        // keep polling
      }
      if (this.holdsTicket()) {
        status.dataset.status = "paid";
        status.textContent = this.space.state === "live" ? "Your ticket is confirmed. Join when you are ready."
          : "Your ticket is confirmed. Come back when the space starts.";
        await this.refreshSpace().catch(() => {});
        if (!this.room) this.renderLobby();
        return;
      }
      if (this.ticket && ["expired", "refunded", "refund_pending"].includes(this.ticket.status)) {
        status.dataset.status = this.ticket.status;
        status.textContent = "The payment could not buy a seat; it is being refunded.";
        return;
      }
      await sleep(1500);
    }
    if (!this.closed) {
      status.dataset.status = "timeout";
      status.textContent = "Your ticket is not confirmed yet. Reload this page in a minute.";
    }
  }

  replayPlayer() {
    const audio = h("audio", { testid: "replay-audio", controls: true, preload: "none" });
    const play = h("button", { type: "button", testid: "replay-play" }, "Play the replay");
    let stop = null;
    play.addEventListener("click", busy(play, async () => {
      const access = await get(path(this.id, "/replay"));
      if (stop) stop();
      stop = playHls(audio, access.url, () => access.query, (data) => showError(new ApiError(0, "hls_error",
        `The replay stopped (${data.details}).`)));
      audio.play().catch(() => {});
    }, showError));
    return h("div", { class: "replay" }, h("h2", {}, "Replay"), play, audio, this.clipControls());
  }

  clipControls() {
    const clip = h("button", { type: "button", testid: "clip" }, "Clip the last 30 s");
    const out = h("span", { "aria-live": "polite" });
    clip.addEventListener("click", busy(clip, async () => {
      const made = await post(path(this.id, "/clips"));
      out.replaceChildren(h("a", { testid: "clip-link", href: made.url, target: "_blank", rel: "noopener", download: "" },
        `Your clip (${Math.round(made.seconds)} s, M4A)`));
    }, showError));
    return h("div", { class: "row clip" }, clip, out);
  }

  // ---- joining ---------------------------------------------------------------------------

  /** POST join, waiting out a starting media worker (503 media_starting, Retry-After). */
  async joinApi(wantHls) {
    const body = wantHls ? { transport: "hls" } : undefined;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api("POST", path(this.id, "/join"), body);
      } catch (error) {
        if (error.code !== "media_starting" || attempt >= 20 || this.closed) throw error;
        await sleep(1000 * Math.min(error.retryAfter || 1, 5));
      }
    }
  }

  async join(wantHls) {
    clearError();
    this.busyLobby = true;
    try {
      const joined = await this.joinApi(wantHls);
      if (this.closed) return;
      this.enterRoom(joined, wantHls);
    } finally {
      this.busyLobby = false;
    }
    await this.connectRoom(this.room.joined);
  }

  enterRoom(joined, wantHls) {
    const room = {
      joined, wantHls, role: joined.participant.role, muted: joined.participant.muted,
      handRaised: joined.participant.hand_raised, people: new Map(), speaking: new Set(), requests: new Set(),
      messages: new Set(), refreshTimer: null,
    };
    this.room = room;
    room.audioEl = h("audio", { testid: "room-audio", autoplay: true });
    room.audio = new RoomAudio(room.audioEl, {
      onState: (state) => { if (this.room === room) room.audioState.textContent = state; },
      onError: (error) => {
        if (error.code === "autoplay_blocked" && room.playButton) room.playButton.hidden = false;
        showError(error);
      },
      renew: () => this.joinApi(this.listenerWantsHls()),
      restart: (rejoined) => this.reconnectMedia(rejoined),
    });
    room.realtime = new Realtime((event) => this.onEvent(event), () => this.onRealtimeLost());
    this.renderRoom();
  }

  listenerWantsHls() {
    return Boolean(this.room && this.room.wantHls && !onStage(this.room.role));
  }

  async connectRoom(joined) {
    const room = this.room;
    try {
      await room.realtime.connect(joined.realtime.url || this.realtimeFallback(), joined.realtime.token);
    } catch (error) {
      showError(new ApiError(0, "realtime_unavailable", `Live updates are unavailable (${error.message}).`));
    }
    await Promise.all([this.loadParticipants(), this.loadChat(), this.loadRequests(), this.refreshSpace()]).catch(showError);
    if (this.room !== room) return;
    await room.audio.start(joined, room.role, room.muted).catch(showError);
  }

  realtimeFallback() {
    return config.realtime_url || "";
  }

  async reconnectMedia(rejoined) {
    const room = this.room;
    if (!room) return;
    try {
      const joined = rejoined || await this.joinApi(this.listenerWantsHls());
      if (this.room !== room) return;
      room.joined = joined;
      room.role = joined.participant.role;
      room.muted = joined.participant.muted;
      this.renderOwnControls();
      await room.audio.start(joined, room.role, room.muted);
    } catch (error) {
      if (this.room === room) showError(error); // else the room closed meanwhile (removed, ended): it says why
    }
  }

  // A socket lost while in the room: a token opens one socket, so join again for a fresh one (once).
  async onRealtimeLost() {
    const room = this.room;
    if (!room || this.closed) return;
    try {
      const joined = await this.joinApi(this.listenerWantsHls());
      if (this.room !== room) return;
      room.joined = joined;
      await room.realtime.connect(joined.realtime.url || this.realtimeFallback(), joined.realtime.token);
      await this.loadParticipants();
    } catch (error) {
      if (error instanceof ApiError && ["banned", "space_not_found", "invalid_state", "not_in_space"].includes(error.code)) {
        await this.refreshSpace().catch(() => {});
        this.closeRoom(error.code === "banned" ? "banned" : this.space.state === "ended" ? "ended" : "removed");
      } else {
        showError(error instanceof ApiError ? error
          : new ApiError(0, "realtime_unavailable", "Live updates stopped; reload the page."));
      }
    }
  }

  teardownRoom() {
    const room = this.room;
    if (!room) return;
    this.room = null;
    clearTimeout(room.refreshTimer);
    room.realtime.close();
    room.audio.stop();
  }

  async leave() {
    this.teardownRoom();
    try {
      await post(path(this.id, "/leave"));
    } finally {
      await this.refreshSpace().catch(() => {});
      if (!this.closed) this.renderLobby();
    }
  }

  closeRoom(reason) {
    if (!this.room) return;
    this.teardownRoom();
    if (reason === "ended") this.space.state = "ended";
    this.renderHeader();
    this.renderLobby(reason);
    // The replay appears once the recording is finished: look again shortly.
    this.refreshSpace().then(() => { if (!this.room && !this.closed) this.renderLobby(reason); }).catch(() => {});
  }

  // ---- the room --------------------------------------------------------------------------

  renderRoom() {
    const room = this.room;
    room.transport = h("span", { testid: "transport" }, room.joined.transport);
    room.audioState = h("span", { testid: "audio-state" }, "connecting");
    const leave = h("button", { type: "button", testid: "leave", class: "secondary" }, "Leave");
    leave.addEventListener("click", busy(leave, () => this.leave(), showError));
    room.hostBar = h("span", { class: "host-bar" });
    room.own = h("div", { class: "own-controls row" });
    room.requestsBox = h("section", { class: "requests", "aria-label": "Speak requests" });
    room.stage = h("ul", { class: "people stage", testid: "stage", "aria-label": "Stage" });
    room.audience = h("ul", { class: "people audience", testid: "audience", "aria-label": "Audience" });
    room.reactions = h("ul", { class: "reactions", testid: "reactions", "aria-live": "polite", "aria-label": "Reactions" });
    room.chatList = h("ul", { class: "chat", testid: "chat-messages", "aria-live": "polite", "aria-label": "Chat" });
    const play = h("button", { type: "button", testid: "audio-play", class: "secondary", hidden: true }, "Play audio");
    play.addEventListener("click", () => room.audioEl.play().then(() => { play.hidden = true; }).catch(showError));
    room.playButton = play;

    const reactButtons = EMOJI.map((emoji) => {
      const button = h("button", { type: "button", testid: "react", dataset: { emoji }, "aria-label": `React ${emoji}` }, emoji);
      button.addEventListener("click", () => {
        if (!room.realtime.send({ action: "reaction", emoji })) {
          showError(new ApiError(0, "realtime_unavailable", "Live updates are not connected."));
        }
      });
      return button;
    });

    this.body.replaceChildren(h("section", { class: "room card", testid: "room" },
      h("div", { class: "room-bar row" },
        h("span", {}, "Audio: ", room.transport, " · ", room.audioState), play, room.audioEl, leave, room.hostBar),
      room.own,
      room.requestsBox,
      h("div", { class: "columns" },
        h("div", {}, h("h2", {}, "Stage"), room.stage, h("h2", {}, "Audience"), room.audience),
        h("div", {},
          h("h2", {}, "Reactions"), h("div", { class: "row react-row" }, reactButtons), room.reactions,
          this.clipControls(),
          h("h2", {}, "Chat"), room.chatList, this.chatForm()))));
    this.renderOwnControls();
    this.renderPeople();
  }

  get moderator() {
    return this.room && (this.room.role === "host" || this.room.role === "cohost");
  }

  renderOwnControls() {
    const room = this.room;
    if (!room) return;
    room.transport.textContent = room.joined.transport;
    const parts = [];
    if (onStage(room.role)) {
      const mic = h("button", { type: "button", testid: "mic-toggle", dataset: { muted: String(room.muted) },
        "aria-pressed": String(room.muted) }, room.muted ? "Unmute" : "Mute");
      mic.addEventListener("click", busy(mic, async () => {
        const me = encodeURIComponent(this.self.id);
        const answer = room.muted ? await del(path(this.id, `/participants/${me}/mute`))
          : await post(path(this.id, `/participants/${me}/mute`));
        this.setMuted(this.self.id, answer.muted);
        if (this.room) this.room.own.querySelector('[data-testid="mic-toggle"]').focus();
      }, showError));
      parts.push(mic);
    } else {
      const raise = room.handRaised
        ? h("button", { type: "button", testid: "lower-hand", class: "secondary" }, "Lower hand")
        : h("button", { type: "button", testid: "raise-hand" }, "✋ Request to speak");
      raise.addEventListener("click", busy(raise, async () => {
        const answer = room.handRaised ? await del(path(this.id, "/speak-requests")) : await post(path(this.id, "/speak-requests"));
        room.handRaised = answer.hand_raised;
        this.renderOwnControls();
        const next = room.own.querySelector("button");
        if (next) next.focus();
      }, showError));
      parts.push(raise);
    }
    parts.push(h("span", { class: "muted" }, `You are ${room.role === "cohost" ? "a co-host" : `the ${room.role}`
      .replace("the speaker", "a speaker").replace("the listener", "a listener")}.`));
    room.own.replaceChildren(...parts);
    const canEnd = room.role === "host" || (room.role === "cohost" && this.space.acting_host_id === this.self.id);
    if (canEnd) {
      const end = h("button", { type: "button", testid: "end-space", class: "danger" }, "End space");
      end.addEventListener("click", busy(end, async () => {
        if (!window.confirm("End this space for everyone?")) return;
        this.space = await post(path(this.id, "/end"));
        this.closeRoom("ended");
      }, showError));
      room.hostBar.replaceChildren(end);
    } else {
      room.hostBar.replaceChildren();
    }
    this.renderRequests();
  }

  setMuted(userId, muted) {
    const room = this.room;
    if (!room) return;
    const person = room.people.get(userId);
    if (person) person.muted = muted;
    if (userId === this.self.id) {
      room.muted = muted;
      room.audio.setMuted(muted);
      this.renderOwnControls();
    }
    this.renderPeople();
  }

  async loadParticipants() {
    const room = this.room;
    if (!room) return;
    const people = new Map();
    let cursor = null;
    for (let pageNo = 0; pageNo < 5; pageNo += 1) {
      const query = `?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page = await get(path(this.id, `/participants${query}`));
      for (const p of [...page.hosts, ...page.cohosts, ...page.speakers, ...page.listeners]) people.set(p.user_id, p);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    if (this.room !== room) return;
    room.people = people;
    const mine = people.get(this.self.id);
    if (mine) {
      room.handRaised = mine.hand_raised;
      if (mine.role !== room.role || mine.muted !== room.muted) {
        const roleChanged = mine.role !== room.role;
        room.role = mine.role;
        room.muted = mine.muted;
        room.audio.setMuted(mine.muted);
        if (roleChanged) this.reconnectMedia();
      }
    }
    this.renderOwnControls();
    this.renderPeople();
  }

  async loadRequests() {
    const room = this.room;
    if (!room || !this.moderator) return;
    const requests = await all(path(this.id, "/speak-requests?limit=100"), "requests", 3);
    if (this.room !== room) return;
    room.requests = new Set(requests.map((r) => r.user_id));
    this.renderRequests();
  }

  renderRequests() {
    const room = this.room;
    if (!room) return;
    if (!this.moderator) return room.requestsBox.replaceChildren();
    const items = [...room.requests].map((userId) => {
      const approve = h("button", { type: "button", testid: "approve" }, "Approve");
      approve.addEventListener("click", busy(approve, async () => {
        await put(path(this.id, `/participants/${encodeURIComponent(userId)}`), { role: "speaker" });
        room.requests.delete(userId);
        this.renderRequests();
      }, showError));
      return h("li", { testid: "speak-request", dataset: { userId } }, nameOf(userId), " asks to speak ", approve);
    });
    room.requestsBox.replaceChildren(h("h2", {}, "Requests to speak"),
      h("ul", { testid: "speak-requests", class: "people" }, items),
      items.length ? null : h("p", { class: "muted" }, "No raised hands."));
  }

  renderPeople() {
    const room = this.room;
    if (!room) return;
    const active = document.activeElement;
    const focus = active && active.closest && active.closest('[data-testid="participant"]')
      ? { user: active.closest('[data-testid="participant"]').dataset.userId, testid: active.dataset.testid } : null;
    const people = [...room.people.values()].sort((a, b) => RANK[b.role] - RANK[a.role]
      || String(a.joined_at || "").localeCompare(String(b.joined_at || "")));
    room.stage.replaceChildren(...people.filter((p) => onStage(p.role)).map((p) => this.personItem(p)));
    room.audience.replaceChildren(...people.filter((p) => !onStage(p.role)).map((p) => this.personItem(p)));
    if (focus) {
      const again = this.body.querySelector(`[data-testid="participant"][data-user-id="${CSS.escape(focus.user)}"]`
        + (focus.testid ? ` [data-testid="${CSS.escape(focus.testid)}"]` : ""));
      if (again) again.focus();
    }
  }

  personItem(p) {
    const room = this.room;
    const speaking = room.speaking.has(p.user_id);
    const actions = this.actionsFor(p);
    return h("li", { testid: "participant", class: speaking ? "person speaking" : "person",
      dataset: { userId: p.user_id, role: p.role, muted: String(p.muted), speaking: String(speaking) } },
    h("a", { href: `#/users/${encodeURIComponent(p.user_id)}`, class: "person-name" }, nameOf(p.user_id)),
    h("span", { class: "muted" }, ` ${p.role}${p.muted && onStage(p.role) ? " · muted" : ""}${p.hand_raised ? " · ✋" : ""}`
      + (p.user_id === this.self.id ? " · you" : "")),
    actions.length ? h("span", { class: "person-actions", role: "group", "aria-label": "Moderate" }, actions) : null);
  }

  /** Moderation buttons I may use on `p`: hosts and co-hosts act on people below them. */
  actionsFor(p) {
    const room = this.room;
    if (!this.moderator || p.user_id === this.self.id || RANK[p.role] >= RANK[room.role]) return [];
    const id = encodeURIComponent(p.user_id);
    const make = (testid, label, action, cls = "") => {
      const button = h("button", { type: "button", testid, class: `small ${cls}` }, label);
      button.addEventListener("click", busy(button, action, showError));
      return button;
    };
    const setRole = (role) => async () => {
      const answer = await put(path(this.id, `/participants/${id}`), { role });
      this.updatePerson(answer);
    };
    const buttons = [];
    if (p.role === "listener") buttons.push(make("invite", "Invite to speak", setRole("speaker")));
    if (p.role === "speaker" || p.role === "cohost") buttons.push(make("demote", "Move to audience", setRole("listener")));
    if (room.role === "host" && p.role !== "cohost") buttons.push(make("make-cohost", "Make co-host", setRole("cohost")));
    if (onStage(p.role) && !p.muted) {
      buttons.push(make("mute", "Mute", async () => {
        this.updatePerson(await post(path(this.id, `/participants/${id}/mute`)));
      }));
    }
    buttons.push(make("remove", "Remove", async () => {
      await del(path(this.id, `/participants/${id}`));
      this.removePerson(p.user_id);
    }, "danger"));
    buttons.push(make("ban", "Ban", async () => {
      await del(path(this.id, `/participants/${id}?ban=true`));
      this.removePerson(p.user_id);
    }, "danger"));
    return buttons;
  }

  updatePerson(participant) {
    const room = this.room;
    if (!room) return;
    const before = room.people.get(participant.user_id);
    room.people.set(participant.user_id, { ...(before || {}), ...participant });
    if (participant.role !== "listener") room.requests.delete(participant.user_id);
    this.renderRequests();
    this.renderPeople();
  }

  removePerson(userId) {
    const room = this.room;
    if (!room) return;
    room.people.delete(userId);
    room.requests.delete(userId);
    room.speaking.delete(userId);
    this.renderRequests();
    this.renderPeople();
    this.updateChatRecipients();
  }

  // ---- realtime events --------------------------------------------------------------------

  onEvent(event) {
    const room = this.room;
    if (!room) return;
    const d = event.data || {};
    const mine = d.user_id === this.self.id;
    switch (event.type) {
      case "participant.joined":
        if (!room.people.has(d.user_id)) {
          room.people.set(d.user_id, { user_id: d.user_id, role: d.role, muted: false, hand_raised: false,
            joined_at: event.at });
        }
        this.renderPeople();
        this.updateChatRecipients();
        this.refreshCountsSoon();
        break;
      case "participant.left":
        this.removePerson(d.user_id);
        this.refreshCountsSoon();
        break;
      case "participant.role_changed": {
        const person = room.people.get(d.user_id) || { user_id: d.user_id, muted: false };
        this.updatePerson({ ...person, role: d.role, hand_raised: false });
        if (mine && d.role !== room.role) {
          const wasModerator = this.moderator;
          room.role = d.role;
          room.handRaised = false;
          this.renderOwnControls();
          this.reconnectMedia(); // a new role needs a new grant: join again and offer again
          if (this.moderator && !wasModerator) this.loadRequests().catch(showError);
        }
        this.renderPeople();
        this.refreshCountsSoon();
        break;
      }
      case "participant.muted":
        this.setMuted(d.user_id, true);
        break;
      case "participant.unmuted":
        this.setMuted(d.user_id, false);
        break;
      case "participant.removed":
        if (mine) this.closeRoom(d.banned ? "banned" : "removed");
        else this.removePerson(d.user_id);
        break;
      case "speak_request.created": {
        room.requests.add(d.user_id);
        const person = room.people.get(d.user_id);
        if (person) person.hand_raised = true;
        this.renderRequests();
        this.renderPeople();
        break;
      }
      case "message.created":
        this.addMessage(d);
        break;
      case "reaction.created":
        this.addReaction(d);
        break;
      case "speaking":
        room.speaking = new Set((d.speakers || []).map((s) => s.user_id));
        for (const item of this.body.querySelectorAll('[data-testid="participant"]')) {
          const on = room.speaking.has(item.dataset.userId);
          item.dataset.speaking = String(on);
          item.classList.toggle("speaking", on);
        }
        break;
      case "space.updated":
        for (const [key, value] of Object.entries(d)) if (value !== null && key !== "space_id") this.space[key] = value;
        this.renderHeader();
        this.renderOwnControls();
        if (d.state === "ended" || d.state === "canceled") this.closeRoom("ended");
        break;
      case "space.ended":
        this.closeRoom("ended");
        break;
      case "media.restarted":
        this.reconnectMedia();
        break;
      case "error":
        showError({ code: d.code, message: d.message });
        break;
      default:
        break;
    }
  }

  refreshCountsSoon() {
    const room = this.room;
    clearTimeout(room.refreshTimer);
    room.refreshTimer = setTimeout(() => this.refreshSpace().catch(() => {}), 1000);
  }

  // ---- chat and reactions -----------------------------------------------------------------

  chatForm() {
    const room = this.room;
    const to = field("To", "chat-to", {}, "select");
    const input = field("Message", "chat-input", { maxlength: "280", autocomplete: "off" });
    const send = h("button", { type: "submit", testid: "chat-send" }, "Send");
    room.chatTo = to.control;
    this.updateChatRecipients();
    const form = h("form", { class: "chat-form" }, to.el, input.el, send);
    form.addEventListener("submit", busy(send, async () => {
      const text = input.control.value.trim();
      if (!text) return;
      const body = { text };
      if (to.control.value) body.to_user_id = to.control.value;
      const message = await post(path(this.id, "/messages"), body);
      input.control.value = "";
      this.addMessage(message);
      input.control.focus();
    }, showError));
    return form;
  }

  updateChatRecipients() {
    const room = this.room;
    if (!room || !room.chatTo) return;
    const chosen = room.chatTo.value;
    const options = [h("option", { value: "" }, "Everyone")];
    for (const p of room.people.values()) {
      if (p.user_id !== this.self.id) options.push(h("option", { value: p.user_id }, nameOf(p.user_id).textContent || p.user_id));
    }
    room.chatTo.replaceChildren(...options);
    room.chatTo.value = [...room.chatTo.options].some((o) => o.value === chosen) ? chosen : "";
    // Names arrive asynchronously: label the options once known.
    for (const option of room.chatTo.options) {
      if (option.value) user(option.value).then((u) => { option.textContent = `@${u.handle}`; }).catch(() => {});
    }
  }

  async loadChat() {
    const room = this.room;
    const page = await get(path(this.id, "/messages?limit=50"));
    if (this.room !== room) return;
    for (const message of [...page.messages].reverse()) this.addMessage(message); // newest first → oldest first
  }

  addMessage(m) {
    const room = this.room;
    if (!room || room.messages.has(m.id)) return;
    room.messages.add(m.id);
    const direct = Boolean(m.to_user_id);
    const label = direct ? (m.sender_id === this.self.id ? [" → ", nameOf(m.to_user_id)] : [" (to you)"]) : [];
    room.chatList.append(h("li", { testid: "chat-message", class: direct ? "direct" : "",
      dataset: { direct: String(direct), from: m.sender_id, messageId: m.id } },
    h("strong", {}, nameOf(m.sender_id)), ...label, ": ", h("span", { class: "text" }, m.text)));
    room.chatList.scrollTop = room.chatList.scrollHeight;
  }

  addReaction(r) {
    const room = this.room;
    const item = h("li", { testid: "reaction", dataset: { emoji: r.emoji, from: r.user_id } }, r.emoji, " ", nameOf(r.user_id));
    room.reactions.prepend(item);
    while (room.reactions.children.length > 12) room.reactions.lastElementChild.remove();
  }
}

/** A span that shows @handle once the profile is fetched (the user id until then). */
function nameOf(userId) {
  const span = h("span", { class: "name", dataset: { userId } }, "…");
  user(userId).then((u) => { span.textContent = `@${u.handle}`; }).catch(() => { span.textContent = userId; });
  return span;
}

function roomClosed(reason) {
  const text = {
    removed: "A host removed you from this space.",
    banned: "A host removed you from this space and banned you from it.",
    ended: "The space has ended.",
  }[reason] || "You are out of the room.";
  return h("p", { testid: "room-closed", class: "closed", role: "status", dataset: { reason } }, text);
}
