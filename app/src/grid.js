// The grid of participants: one tile per peer (and one for the local
// preview), with the name, the video, the audio and what is switched off.

export class Grid {
  constructor(list) {
    this.list = list;
    // peerId -> { item, video, audio, name, state, paused: {audio, video}, hasVideo }
    this.tiles = new Map();
    this.statsShown = false;
    // Called with the <audio> element when the browser refuses to play it
    // before a click (autoplay policy).
    this.onAudioBlocked = () => {};
  }

  tile(peerId, displayName = '', local = false) {
    let tile = this.tiles.get(peerId);
    if (tile) return tile;
    const item = document.createElement('li');
    const figure = document.createElement('figure');
    figure.className = local ? 'tile local' : 'tile';
    figure.dataset.peerId = peerId;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound plays through the <audio> element
    const audio = document.createElement('audio');
    audio.autoplay = true;
    const caption = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'name';
    const state = document.createElement('span');
    state.className = 'state';
    caption.append(name, state);
    const stats = statsTable();
    stats.hidden = !this.statsShown;
    figure.append(video, audio, caption, stats);
    item.append(figure);
    this.list.append(item);
    tile = { item, figure, video, audio, name, state, stats, local, paused: { audio: false, video: false }, has: { audio: false, video: false } };
    this.tiles.set(peerId, tile);
    this.rename(peerId, displayName);
    this.refresh(tile);
    return tile;
  }

  rename(peerId, displayName) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    const shown = displayName || 'Guest';
    tile.name.textContent = tile.local ? `${shown} (you)` : shown;
    tile.video.setAttribute('aria-label', `Video of ${shown}`);
  }

  setTrack(peerId, track) {
    const tile = this.tile(peerId);
    const element = track.kind === 'video' ? tile.video : tile.audio;
    element.srcObject = new MediaStream([track]);
    tile.has[track.kind] = true;
    const played = element.play();
    if (played && track.kind === 'audio' && !tile.local) {
      played.catch(() => this.onAudioBlocked(element));
    } else if (played) {
      played.catch(() => {});
    }
    this.refresh(tile);
  }

  removeTrack(peerId, kind) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    const element = kind === 'video' ? tile.video : tile.audio;
    element.srcObject = null;
    tile.has[kind] = false;
    this.refresh(tile);
  }

  setPaused(peerId, kind, paused) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    tile.paused[kind] = paused;
    this.refresh(tile);
  }

  showStats(shown) {
    this.statsShown = shown;
    for (const tile of this.tiles.values()) tile.stats.hidden = !shown;
  }

  // One row per kind: cells as `figures()` of stats.js gives them.
  setStats(peerId, kind, cells) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    const body = tile.stats.tBodies[0];
    let row = body.querySelector(`tr[data-kind="${kind}"]`);
    if (!row) {
      row = body.insertRow(kind === 'audio' ? 0 : -1);
      row.dataset.kind = kind;
    }
    row.replaceChildren(
      ...cells.map((text, i) => {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.scope = 'row';
        cell.textContent = text;
        return cell;
      }),
    );
  }

  remove(peerId) {
    const tile = this.tiles.get(peerId);
    if (!tile) return;
    tile.item.remove();
    this.tiles.delete(peerId);
  }

  clear() {
    for (const peerId of [...this.tiles.keys()]) this.remove(peerId);
  }

  remoteCount() {
    return [...this.tiles.values()].filter((t) => !t.local).length;
  }

  refresh(tile) {
    const off = [];
    if (!tile.has.video || tile.paused.video) off.push('camera off');
    if (!tile.has.audio || tile.paused.audio) off.push('muted');
    tile.state.textContent = off.join(', ');
  }
}

const STATS_COLUMNS = ['Stream', 'kbit/s', 'Lost', 'Jitter ms', 'RTT ms', 'Score'];

function statsTable() {
  const table = document.createElement('table');
  table.className = 'stats';
  const caption = table.createCaption();
  caption.textContent = 'Server stats';
  const head = table.createTHead().insertRow();
  for (const column of STATS_COLUMNS) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = column;
    head.append(th);
  }
  table.createTBody();
  return table;
}
