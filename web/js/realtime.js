// The room's WebSocket: `realtime.url?token=<realtime.token>` from join. Server events are
// {"type", "space_id", "at", "data"}; client actions {"action": "message"|"reaction"|"ping", ...}.
export class Realtime {
  constructor(onEvent, onLost) {
    this.onEvent = onEvent;
    this.onLost = onLost;
    this.socket = null;
    this.closing = false;
    this.pinger = null;
  }

  /** Resolves once open; rejects if the handshake is refused (browsers hide why). */
  connect(url, token) {
    this.close();
    this.closing = false;
    const sep = url.includes("?") ? "&" : "?";
    const socket = new WebSocket(`${url}${sep}token=${encodeURIComponent(token)}`);
    this.socket = socket;
    return new Promise((resolve, reject) => {
      let opened = false;
      socket.addEventListener("open", () => {
        opened = true;
        // API Gateway closes sockets idle for 10 minutes.
        this.pinger = setInterval(() => this.send({ action: "ping" }), 5 * 60 * 1000);
        resolve();
      });
      socket.addEventListener("message", (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          return;
        }
        this.onEvent(event);
      });
      socket.addEventListener("close", () => {
        clearInterval(this.pinger);
        if (!opened) reject(new Error("the live connection was refused"));
        else if (!this.closing && this.socket === socket) this.onLost();
      });
    });
  }

  send(action) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(action));
      return true;
    }
    return false;
  }

  close() {
    this.closing = true;
    clearInterval(this.pinger);
    if (this.socket) {
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    }
    this.socket = null;
  }
}
