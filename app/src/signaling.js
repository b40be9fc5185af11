// The socket.io connection to the server: connecting with the room and peer
// ids (and a join token when the server requires one), requests answered by
// an ack `(error, response)`, and the server's notifications and requests
// handed to the caller.

import { io } from 'socket.io-client';

const REQUEST_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;

export class ConnectError extends Error {
  // kind: 'unreachable' (no answer at the transport level) or 'refused'
  // (the server answered with a reason, such as a full room).
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

export class Signaling {
  constructor(socket) {
    this.socket = socket;
  }

  // Resolves once the server admitted the peer into the room.
  static connect({ roomId, peerId, token }) {
    const socket = io({
      query: { roomId, peerId },
      // The server checks the token against the room and peer id.
      auth: token ? { token } : {},
      // A new connection would be a new peer without transports: the page
      // says the call ended instead of reconnecting behind the user's back.
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('connect_error');
        resolve(new Signaling(socket));
      });
      socket.once('connect_error', (err) => {
        socket.close();
        // Transport failures carry a `type`; a refusal by the server does not.
        const unreachable = err.type === 'TransportError' || err.message === 'timeout';
        reject(new ConnectError(unreachable ? 'unreachable' : 'refused', err.message));
      });
    });
  }

  request(method, data = {}) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(REQUEST_TIMEOUT_MS).emit('request', { method, data }, (timeout, error, response) => {
        if (timeout) reject(new Error(`${method}: no answer from the server`));
        else if (error) reject(new Error(`${method}: ${error}`));
        else resolve(response);
      });
    });
  }

  // handler(method, data)
  onNotification(handler) {
    this.socket.on('notification', ({ method, data }) => handler(method, data));
  }

  // handler(method, data) returns a promise; its rejection refuses the request.
  onRequest(handler) {
    this.socket.on('request', ({ method, data }, ack) => {
      handler(method, data).then(
        () => ack(null),
        (err) => ack(String(err && err.message ? err.message : err)),
      );
    });
  }

  onDisconnect(handler) {
    this.socket.on('disconnect', (reason) => handler(reason));
  }

  close() {
    this.socket.off('disconnect');
    this.socket.close();
  }
}
