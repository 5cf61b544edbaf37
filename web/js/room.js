// A room's audio: WebRTC with the room's media worker (through the API's offer route), or
// HLS from the CDN (hls.js) for listeners beyond the WebRTC seats; replays are HLS too.
import { ApiError, api } from "./api.js";

const GATHERING_TIMEOUT_MS = 5000;
// Raw voice: with these on, Chromium delivers a speaker ~12 dB lower (LOCAL-STACK.md).
const MIC = { audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } };
const ON_STAGE = new Set(["host", "cohost", "speaker"]);

export const onStage = (role) => ON_STAGE.has(role);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function waitForGathering(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    // An unreachable STUN/TURN server can hold gathering for long: offer what we have.
    setTimeout(resolve, GATHERING_TIMEOUT_MS);
  });
}

/** Append a signed query (CloudFront's Policy/Signature/Key-Pair-Id) to a URL, replacing an older one. */
export function signed(url, query) {
  if (!query) return url;
  const target = new URL(url, location.href);
  const fresh = new URLSearchParams(query);
  for (const key of fresh.keys()) target.searchParams.delete(key);
  const rest = target.searchParams.toString();
  target.search = rest ? `${rest}&${query}` : query;
  return target.toString();
}

/** Play a signed HLS playlist in an <audio> with hls.js; `access()` gives the current query. */
export function playHls(audio, url, access, onFatal) {
  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls({
      xhrSetup(xhr, requested) {
        xhr.open("GET", signed(requested, access()), true);
      },
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => audio.play().catch(() => {}));
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else onFatal(data);
    });
    hls.loadSource(signed(url, access()));
    hls.attachMedia(audio);
    return () => hls.destroy();
  }
  if (audio.canPlayType("application/vnd.apple.mpegurl")) {
    // Safari's own player cannot sign segment requests; it works where the CDN shares the page's cookies.
    audio.src = signed(url, access());
    audio.play().catch(() => {});
    return () => audio.removeAttribute("src");
  }
  throw new ApiError(0, "hls_unsupported", "This browser cannot play HLS audio.");
}

export class RoomAudio {
  /**
   * @param audio the <audio autoplay> element that plays the room
   * @param hooks {onState(text), onError(error), renew(): Promise<JoinOut>, restart(): Promise<void>}
   */
  constructor(audio, hooks) {
    this.audio = audio;
    this.hooks = hooks;
    this.pc = null;
    this.mic = null;
    this.stopHls = null;
    this.hlsQuery = "";
    this.renewTimer = null;
    this.transport = null;
    this.generation = 0;
    audio.addEventListener("playing", () => this.hooks.onState("playing"));
  }

  /** Connect with what a join answered; `role` and `muted` are mine now. */
  async start(joined, role, muted) {
    this.stop();
    const mine = ++this.generation;
    this.transport = joined.transport;
    this.hooks.onState("connecting");
    if (joined.transport === "hls") this.startHls(joined.hls);
    else await this.startWebRtc(joined.media, role, muted, mine);
  }

  async startWebRtc(media, role, muted, mine) {
    const pc = new RTCPeerConnection({ iceServers: media.ice_servers || [] });
    this.pc = pc;
    pc.addEventListener("track", (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      this.audio.srcObject = stream;
      this.audio.play().catch((error) => this.hooks.onError(new ApiError(0, "autoplay_blocked",
        `The browser blocked the room's audio (${error.message}); press Play.`)));
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" && this.pc === pc) {
        this.hooks.onError(new ApiError(0, "media_connection_failed", "The audio connection failed; rejoining."));
        this.hooks.restart();
      }
    });
    if (onStage(role)) {
      try {
        this.mic = await navigator.mediaDevices.getUserMedia(MIC);
      } catch (error) {
        this.hooks.onError(new ApiError(0, "microphone_unavailable",
          `Your microphone is unavailable (${error.message}): you can listen, not speak.`));
      }
    }
    if (mine !== this.generation) return;
    if (this.mic) {
      for (const track of this.mic.getAudioTracks()) {
        track.enabled = !muted;
        pc.addTrack(track, this.mic);
      }
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    if (mine !== this.generation) return;
    const offer = { sdp: pc.localDescription.sdp, type: "offer" };
    for (let attempt = 0; ; attempt += 1) {
      try {
        const answer = await api("POST", media.offer_url, offer);
        if (mine !== this.generation) return;
        await pc.setRemoteDescription(answer);
        return;
      } catch (error) {
        if (mine !== this.generation || error.code === "offer_superseded") return;
        if (error.code === "listening_on_hls") return this.hooks.restart();
        if ((error.code === "media_starting" || error.code === "media_unavailable") && attempt < 10) {
          await sleep(1000 * (error.retryAfter || 1));
          continue;
        }
        throw error;
      }
    }
  }

  startHls(access) {
    this.hlsQuery = access.query;
    this.stopHls = playHls(this.audio, access.url, () => this.hlsQuery, (data) => {
      this.hooks.onError(new ApiError(0, "hls_error", `The stream stopped (${data.details}); reconnecting.`));
      this.hooks.restart();
    });
    this.scheduleRenewal(access.expires_at);
  }

  // The signed access lasts minutes: join again before it ends (how a ban takes effect).
  scheduleRenewal(expiresAt) {
    clearTimeout(this.renewTimer);
    const wait = Math.max(5000, new Date(expiresAt).getTime() - Date.now() - 60_000);
    this.renewTimer = setTimeout(async () => {
      try {
        const joined = await this.hooks.renew();
        if (joined.transport === "hls" && this.transport === "hls") {
          this.hlsQuery = joined.hls.query;
          this.scheduleRenewal(joined.hls.expires_at);
        } else {
          await this.hooks.restart(joined);
        }
      } catch (error) {
        this.hooks.onError(error);
      }
    }, wait);
  }

  /** Mute or unmute my microphone locally (the API call is the caller's). */
  setMuted(muted) {
    if (!this.mic) return;
    for (const track of this.mic.getAudioTracks()) track.enabled = !muted;
  }

  stop() {
    this.generation += 1;
    clearTimeout(this.renewTimer);
    if (this.stopHls) this.stopHls();
    this.stopHls = null;
    if (this.pc) this.pc.close();
    this.pc = null;
    if (this.mic) for (const track of this.mic.getTracks()) track.stop();
    this.mic = null;
    this.audio.srcObject = null;
    this.transport = null;
  }
}
