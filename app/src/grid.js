// The grid of participants: one tile per peer (and one for the local
// preview), with the name, the video, the audio and what is switched off.

export class Grid {
  constructor(list) {
    this.list = list;
    // peerId -> { item, video, audio, name, state, paused: {audio, video}, hasVideo }
    this.tiles = new Map();
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
    figure.append(video, audio, caption);
    item.append(figure);
    this.list.append(item);
    tile = { item, figure, video, audio, name, state, local, paused: { audio: false, video: false }, has: { audio: false, video: false } };
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
