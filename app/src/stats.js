// The live stats panel: while it is shown, the server's figures for every
// stream of the call (bitrate, packets lost, jitter, round-trip time,
// score), polled every two seconds into each participant's tile.

const INTERVAL_MS = 2000;

// A table row's cells for one stream's stat.
export function figures(kind, stat) {
  // mediasoup's jitter is in RTP timestamp units: 48 kHz for Opus, 90 kHz for video.
  const clock = kind === 'audio' ? 48000 : 90000;
  const rtt = typeof stat.roundTripTime === 'number' ? stat.roundTripTime.toFixed(1) : '–';
  return [
    kind,
    (stat.bitrate / 1000).toFixed(0),
    String(stat.packetsLost),
    ((stat.jitter / clock) * 1000).toFixed(1),
    rtt,
    String(stat.score),
  ];
}

export class StatsPanel {
  // call: a Call; grid: the Grid; local: the local tile's peer id.
  constructor(call, grid, local) {
    this.call = call;
    this.grid = grid;
    this.local = local;
    this.timer = null;
  }

  get running() {
    return this.timer !== null;
  }

  start() {
    if (this.timer) return;
    this.grid.showStats(true);
    this.poll();
    this.timer = setInterval(() => this.poll(), INTERVAL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.grid.showStats(false);
  }

  async poll() {
    let streams;
    try {
      streams = await this.call.stats();
    } catch {
      return; // the call is ending
    }
    if (!this.timer) return;
    for (const { peerId, kind, stat } of streams) {
      this.grid.setStats(peerId || this.local, kind, figures(kind, stat));
    }
  }
}
