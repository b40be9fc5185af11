// Status and error messages: one polite live region for progress, one alert
// region for errors, and the plain-language text for each kind of failure.

const statusEl = () => document.getElementById('status');
const errorEl = () => document.getElementById('error');

export function showStatus(text) {
  statusEl().textContent = text;
}

export function showError(text) {
  const el = errorEl();
  el.textContent = text;
  el.hidden = false;
}

export function clearError() {
  const el = errorEl();
  el.textContent = '';
  el.hidden = true;
}

// Why getUserMedia failed, in words a participant can act on.
export function describeMediaError(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera and microphone access was refused. You can still see and hear the others; ' +
        'allow access in the browser\'s site settings and join again to be seen and heard.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found. You can still see and hear the others.';
    case 'NotReadableError':
      return 'The camera or microphone is in use by another application.';
    case 'InsecureContextError':
      return 'Camera and microphone need HTTPS (or localhost). You can still see and hear the others.';
    default:
      return `Camera and microphone could not be opened: ${err && err.message ? err.message : err}`;
  }
}

// Why the connection to the server failed: unreachable, room full, or
// another refusal (the server's reason is shown as it is).
export function describeConnectError(err) {
  if (err && err.kind === 'unreachable') {
    return 'The server cannot be reached. Check that it is running and that the address is right, then try again.';
  }
  const reason = err && err.message ? err.message : String(err);
  if (/room is full/i.test(reason)) {
    return `This room is full. Try again later or choose another room. (The server said: ${reason}.)`;
  }
  return `The server refused to let you in: ${reason}`;
}
