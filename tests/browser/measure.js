// Added to every page by the browser tests (page.add_init_script) before the app's own code:
// it makes what a page receives or plays measurable without knowing the app's internals.
//
//   window.__parlorTone(freq)  -> share (0..1) of the audio power near `freq` Hz in what the page
//                                 receives (every remote WebRTC audio track) and plays (every
//                                 <audio>/<video>, e.g. hls.js's); 0 when it is silent.
//   window.__parlorLevel()     -> RMS of that audio in dBFS (-Infinity when silent).
//   window.__parlorStats()     -> Promise of getStats() figures of every open RTCPeerConnection
//                                 (inbound-rtp audio, remote-outbound-rtp, the selected pair's
//                                 round-trip time) and the timing marks below.
//   window.__parlorTiming      -> performance.now() marks: offerAt (setLocalDescription of an
//                                 offer), answerAt (setRemoteDescription of the answer), trackAt
//                                 (first remote audio track), firstAudioAt (first frame of a
//                                 remote track louder than -60 dBFS) — of the latest connection.
(() => {
  if (window.__parlorTone) return;
  const SILENCE_RMS = 0.001; // -60 dBFS
  const state = { ctx: null, mix: null, sources: [], peers: [], elements: new WeakSet() };
  const timing = (window.__parlorTiming = { offerAt: null, answerAt: null, trackAt: null, firstAudioAt: null });

  function context() {
    if (!state.ctx) {
      state.ctx = new AudioContext({ sampleRate: 48000 });
      state.mix = state.ctx.createAnalyser();
      state.mix.fftSize = 8192; // 5.9 Hz bins at 48 kHz
      state.mix.smoothingTimeConstant = 0;
      // An analyser is pulled even when nothing consumes its output: no sound is added.
    }
    if (state.ctx.state === "suspended") state.ctx.resume().catch(() => {});
    return state.ctx;
  }

  // One source per track: into the shared analyser, and into its own small one that marks
  // the first audible frame of a remote WebRTC track.
  function measureTrack(track, remote) {
    if (track.kind !== "audio" || state.sources.some((s) => s.track === track)) return;
    const ctx = context();
    const stream = new MediaStream([track]);
    const source = ctx.createMediaStreamSource(stream);
    source.connect(state.mix);
    const entry = { track, source, remote };
    state.sources.push(entry);
    if (remote) {
      // Chromium renders a remote WebRTC track into WebAudio only while a media element also
      // plays it: a muted one adds no sound.
      const sink = new Audio();
      sink.muted = true;
      sink.srcObject = stream;
      sink.play().catch(() => {});
      entry.sink = sink;
      const own = ctx.createAnalyser();
      own.fftSize = 2048;
      source.connect(own);
      const samples = new Float32Array(own.fftSize);
      const timer = setInterval(() => {
        if (track.readyState === "ended") return clearInterval(timer);
        own.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const x of samples) sum += x * x;
        if (Math.sqrt(sum / samples.length) > SILENCE_RMS) {
          if (timing.firstAudioAt === null) timing.firstAudioAt = performance.now();
          clearInterval(timer);
        }
      }, 5);
    }
  }

  // --- WebRTC: every remote audio track -------------------------------------------------------
  const Native = window.RTCPeerConnection;
  if (Native) {
    class MeasuredPeerConnection extends Native {
      constructor(...args) {
        super(...args);
        state.peers.push(this);
        this.addEventListener("track", (event) => {
          if (event.track.kind !== "audio") return;
          timing.trackAt = performance.now();
          measureTrack(event.track, true);
        });
      }
      async setLocalDescription(description, ...rest) {
        const type = description ? description.type : undefined;
        const result = await super.setLocalDescription(description, ...rest);
        if ((type || (this.localDescription && this.localDescription.type)) === "offer") {
          timing.offerAt = performance.now();
          timing.answerAt = null;
          timing.firstAudioAt = null;
        }
        return result;
      }
      async setRemoteDescription(description, ...rest) {
        const result = await super.setRemoteDescription(description, ...rest);
        if (description && description.type === "answer") timing.answerAt = performance.now();
        return result;
      }
    }
    window.RTCPeerConnection = MeasuredPeerConnection;
    if (window.webkitRTCPeerConnection) window.webkitRTCPeerConnection = MeasuredPeerConnection;
  }

  // --- media elements (hls.js plays through an <audio>) ---------------------------------------
  // captureStream() copies what the element plays without changing its output. Elements that
  // play a MediaStream (WebRTC) are measured through their tracks above instead.
  function measureElement(element) {
    if (state.elements.has(element) || element.srcObject || !element.captureStream) return;
    state.elements.add(element);
    let captured;
    try {
      captured = element.captureStream();
    } catch (e) {
      return;
    }
    captured.getAudioTracks().forEach((t) => measureTrack(t, false));
    captured.addEventListener("addtrack", (event) => measureTrack(event.track, false));
  }
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function (...args) {
    const result = play.apply(this, args);
    measureElement(this);
    return result;
  };
  // Elements started by `autoplay` never call play(): catch them as they start.
  document.addEventListener("playing", (event) => {
    if (event.target instanceof HTMLMediaElement) measureElement(event.target);
  }, true);

  // --- readings ---------------------------------------------------------------------------------
  function powers() {
    if (!state.ctx) return null;
    const bins = new Float32Array(state.mix.frequencyBinCount);
    state.mix.getFloatFrequencyData(bins);
    return bins.map((db) => (Number.isFinite(db) ? Math.pow(10, db / 10) : 0));
  }

  window.__parlorLevel = () => {
    if (!state.ctx) return -Infinity;
    const samples = new Float32Array(state.mix.fftSize);
    state.mix.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const x of samples) sum += x * x;
    const rms = Math.sqrt(sum / samples.length);
    return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  };

  window.__parlorTone = (freq, widthHz = 20) => {
    const p = powers();
    if (!p || window.__parlorLevel() < 20 * Math.log10(SILENCE_RMS)) return 0;
    const hz = state.ctx.sampleRate / state.mix.fftSize;
    let near = 0;
    let total = 0;
    for (let i = Math.floor(50 / hz); i < p.length; i++) {
      total += p[i];
      if (Math.abs(i * hz - freq) <= widthHz) near += p[i];
    }
    return total > 0 ? near / total : 0;
  };

  window.__parlorStats = async () => {
    const peers = [];
    for (const pc of state.peers) {
      if (pc.connectionState === "closed") continue;
      const out = { connectionState: pc.connectionState, inbound: [], remoteOutbound: [], roundTripTime: null };
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "audio") {
          out.inbound.push({
            packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, jitter: s.jitter,
            jitterBufferDelay: s.jitterBufferDelay, jitterBufferEmittedCount: s.jitterBufferEmittedCount,
            jitterBufferMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null,
            concealedSamples: s.concealedSamples, totalSamplesReceived: s.totalSamplesReceived,
            bytesReceived: s.bytesReceived, codecId: s.codecId,
          });
        } else if (s.type === "remote-outbound-rtp" && s.kind === "audio") {
          out.remoteOutbound.push({ packetsSent: s.packetsSent, bytesSent: s.bytesSent, reportsSent: s.reportsSent,
                                    remoteTimestamp: s.remoteTimestamp });
        } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
          out.roundTripTime = s.currentRoundTripTime ?? null;
        }
      });
      peers.push(out);
    }
    return { peers, timing: { ...timing } };
  };
})();
