// The socket.io connection to the server: connecting with the room and peer
// ids (and a join token when the server requires one), requests answered by
// an ack `(error, response)`, and the server's notifications and requests
// handed to the caller.

import { io } from 'socket.io-client';

const REQUEST_TIMEOUT_MS = 10000;
const CONNECT_TIMEOUT_MS = 10000;
// A server of a cluster refuses a room held by another node with
// `redirect: <url> (the room is on node <id>)`; the page connects there.
const REDIRECT_PREFIX = 'redirect: ';
// More hops than a room's move between two connections can explain.
const MAX_REDIRECTS = 2;

// The URL of a redirect refusal, or null for any other message.
export function redirectUrl(message) {
  if (typeof message !== 'string' || !message.startsWith(REDIRECT_PREFIX)) return null;
  const url = message.slice(REDIRECT_PREFIX.length).split(' ')[0];
  return /^https?:\/\//.test(url) ? url : null;
}

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

  // Resolves once the server admitted the peer into the room; follows the
  // cluster's redirects to the room's node (`url` unset: this page's server).
  static connect({ roomId, peerId, token }, url = undefined, hops = 0) {
    const socket = io(url, {
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
        const next = redirectUrl(err.message);
        if (next && hops < MAX_REDIRECTS) {
          resolve(Signaling.connect({ roomId, peerId, token }, next, hops + 1));
          return;
        }
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
