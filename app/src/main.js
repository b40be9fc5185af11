// The page: the join form (or `?room=ROOM&name=NAME` to join at once; an
// invitation link `?token=TOKEN` fixes the room and peer id the token
// grants), the call's controls, and the wiring between signaling, devices,
// call and grid.

import { Signaling } from './signaling.js';
import { Call } from './call.js';
import { Grid } from './grid.js';
import { StatsPanel } from './stats.js';
import { openMedia, listDevices, fillPicker } from './devices.js';
import { showStatus, showError, clearError, describeMediaError, describeConnectError } from './status.js';

const $ = (id) => document.getElementById(id);
const LOCAL = 'local';

let call = null;
let grid = null;
let stream = null;
let stats = null;
let ended = false;
// From an invitation link: { token, room, peer }.
let invitation = null;

// The room and peer id a join token grants, read from its payload (the
// server checks the signature; the page only fills in the form).
function readInvitation(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload));
    if (typeof claims.room !== 'string' || typeof claims.sub !== 'string') return null;
    return { token, room: claims.room, peer: claims.sub };
  } catch {
    return null;
  }
}

function newPeerId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `p-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function showForm(show) {
  $('join-form').hidden = !show;
  $('call').hidden = show;
}

function participantsStatus(room) {
  const n = grid.remoteCount();
  const others = n === 1 ? '1 other participant' : `${n} other participants`;
  showStatus(`In room ${room} with ${others}.`);
}

async function join(room, name) {
  clearError();
  showForm(false);
  $('call-room').textContent = room;
  $('rename-name').value = name;
  showStatus(`Connecting to room ${room}…`);
  ended = false;
  let signaling;
  try {
    signaling = await Signaling.connect(invitation
      ? { roomId: room, peerId: invitation.peer, token: invitation.token }
      : { roomId: room, peerId: newPeerId() });
  } catch (err) {
    showForm(true);
    showStatus('');
    showError(describeConnectError(err));
    return;
  }
  grid = new Grid($('grid'));
  grid.onAudioBlocked = () => {
    $('enable-sound').hidden = false;
  };
  call = new Call(signaling, {
    peerJoined: (peer) => {
      grid.tile(peer.id, peer.displayName);
      participantsStatus(room);
    },
    peerLeft: (peerId) => {
      grid.remove(peerId);
      participantsStatus(room);
    },
    peerRenamed: (peerId, displayName) => grid.rename(peerId, displayName),
    track: (peerId, track, paused) => {
      grid.setTrack(peerId, track);
      grid.setPaused(peerId, track.kind, paused);
    },
    trackGone: (peerId, kind) => grid.removeTrack(peerId, kind),
    paused: (peerId, kind, paused) => grid.setPaused(peerId, kind, paused),
    ended: (reason) => end(`The call ended: ${reason}.`),
  });
  grid.tile(LOCAL, name, true);
  stats = new StatsPanel(call, grid, LOCAL);
  try {
    const peers = await call.join(name);
    for (const peer of peers) grid.tile(peer.id, peer.displayName);
  } catch (err) {
    end(`Joining failed: ${err.message}`);
    return;
  }
  participantsStatus(room);
  await startMedia({});
}

// Opens the camera and microphone and sends them; without them the call
// goes on receive-only, with a message saying why.
async function startMedia({ audioId, videoId }) {
  try {
    const next = await openMedia({ audioId, videoId });
    if (stream) {
      for (const track of stream.getTracks()) track.stop();
    }
    stream = next;
  } catch (err) {
    showError(describeMediaError(err));
    setControls();
    return;
  }
  for (const track of stream.getTracks()) {
    grid.setTrack(LOCAL, track);
    try {
      await call.publish(track);
    } catch (err) {
      showError(`Sending ${track.kind} failed: ${err.message}`);
    }
  }
  setControls();
  try {
    const { cameras, microphones } = await listDevices();
    const current = (kind) => {
      const track = stream.getTracks().find((t) => t.kind === kind);
      return track ? track.getSettings().deviceId : undefined;
    };
    fillPicker($('pick-camera'), cameras, current('video'), 'Camera');
    fillPicker($('pick-microphone'), microphones, current('audio'), 'Microphone');
  } catch {
    // Pickers stay empty; the default devices are in use.
  }
}

function setControls() {
  for (const [kind, button] of [['audio', $('toggle-audio')], ['video', $('toggle-video')]]) {
    button.disabled = !call || !call.isPublishing(kind);
  }
}

async function toggle(kind, button, labels) {
  const paused = button.getAttribute('aria-pressed') !== 'true';
  button.disabled = true;
  try {
    await call.setPaused(kind, paused);
    button.setAttribute('aria-pressed', String(paused));
    button.textContent = paused ? labels[1] : labels[0];
    grid.setPaused(LOCAL, kind, paused);
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

function end(message) {
  if (ended) return;
  ended = true;
  if (stats) stats.stop();
  stats = null;
  if (call) call.leave();
  call = null;
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  if (grid) grid.clear();
  for (const [id, labels] of [['toggle-audio', 'Mute microphone'], ['toggle-video', 'Turn camera off'], ['toggle-stats', 'Show stats']]) {
    $(id).setAttribute('aria-pressed', 'false');
    $(id).textContent = labels;
  }
  showForm(true);
  showStatus(message);
}

function init() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  invitation = token ? readInvitation(token) : null;
  if (token && !invitation) showError('This invitation link is damaged: its join token cannot be read.');
  const room = invitation ? invitation.room : params.get('room') || '';
  const name = params.get('name') || '';
  $('join-room').value = room;
  $('join-room').readOnly = Boolean(invitation);
  $('join-name').value = name;

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const r = $('join-room').value.trim();
    const n = $('join-name').value.trim();
    // A link to this room, to share; an invitation is personal and stays as it is.
    if (!invitation) history.replaceState(null, '', `?room=${encodeURIComponent(r)}`);
    join(r, n);
  });
  $('leave').addEventListener('click', () => end('You left the call.'));
  $('toggle-audio').addEventListener('click', (e) =>
    toggle('audio', e.currentTarget, ['Mute microphone', 'Unmute microphone']));
  $('toggle-video').addEventListener('click', (e) =>
    toggle('video', e.currentTarget, ['Turn camera off', 'Turn camera on']));
  $('toggle-stats').addEventListener('click', (e) => {
    const button = e.currentTarget;
    if (!stats) return;
    if (stats.running) stats.stop();
    else stats.start();
    button.setAttribute('aria-pressed', String(stats.running));
    button.textContent = stats.running ? 'Hide stats' : 'Show stats';
  });
  $('enable-sound').addEventListener('click', (e) => {
    for (const audio of document.querySelectorAll('#grid audio')) audio.play().catch(() => {});
    e.currentTarget.hidden = true;
  });
  $('pick-camera').addEventListener('change', (e) => startMedia({ videoId: e.currentTarget.value, audioId: $('pick-microphone').value }));
  $('pick-microphone').addEventListener('change', (e) => startMedia({ audioId: e.currentTarget.value, videoId: $('pick-camera').value }));
  $('rename-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = $('rename-name').value.trim();
    try {
      await call.rename(n);
      grid.rename(LOCAL, n);
      showStatus(`You are now shown as ${n}.`);
    } catch (err) {
      showError(err.message);
    }
  });
  window.addEventListener('pagehide', () => {
    if (call) call.leave();
  });

  if (room && name) join(room, name);
}

init();
