// One call in a room with mediasoup-client: loading the router's
// capabilities, a sending and a receiving WebRTC transport, producers for the
// local tracks and consumers for what the server offers.

import { Device } from 'mediasoup-client';

export class Call {
  // events: { peerJoined(peer), peerLeft(peerId), peerRenamed(peerId, name),
  //           track(peerId, track, paused), trackGone(peerId, kind),
  //           paused(peerId, kind, paused), ended(reason) }
  constructor(signaling, events) {
    this.signaling = signaling;
    this.events = events;
    this.device = null;
    this.sendTransport = null;
    this.recvTransport = null;
    this.producers = new Map(); // kind -> Producer
    this.consumers = new Map(); // consumer id -> { consumer, peerId }
    signaling.onNotification((method, data) => this.notification(method, data));
    signaling.onRequest((method, data) => this.serverRequest(method, data));
    signaling.onDisconnect((reason) => this.events.ended(reason));
  }

  // Joins with `displayName`; resolves with the peers already there.
  async join(displayName) {
    const routerRtpCapabilities = await this.signaling.request('getRouterRtpCapabilities');
    this.device = await Device.factory();
    await this.device.load({ routerRtpCapabilities });
    // The receiving transport exists before `join`: the server offers what
    // the others send as soon as it has answered.
    this.sendTransport = await this.transport(true);
    this.recvTransport = await this.transport(false);
    const { peers } = await this.signaling.request('join', {
      displayName,
      device: { flag: 'ejtimaa-app', name: navigator.userAgent },
      rtpCapabilities: this.device.rtpCapabilities,
    });
    return peers;
  }

  async transport(producing) {
    const info = await this.signaling.request('createWebRtcTransport', {
      producing,
      consuming: !producing,
      forceTcp: false,
    });
    const options = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      sctpParameters: info.sctpParameters || undefined,
    };
    const transport = producing
      ? this.device.createSendTransport(options)
      : this.device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, done, fail) => {
      this.signaling
        .request('connectWebRtcTransport', { transportId: transport.id, dtlsParameters })
        .then(() => done(), fail);
    });
    if (producing) {
      transport.on('produce', ({ kind, rtpParameters, appData }, done, fail) => {
        this.signaling
          .request('produce', { transportId: transport.id, kind, rtpParameters, appData })
          .then(({ id }) => done({ id }), fail);
      });
    }
    return transport;
  }

  // Sends `track`, or swaps it in for the one of its kind already sent.
  async publish(track) {
    if (!this.device.canProduce(track.kind)) return;
    const existing = this.producers.get(track.kind);
    if (existing) {
      await existing.replaceTrack({ track });
      return;
    }
    const producer = await this.sendTransport.produce({ track, appData: { source: track.kind } });
    this.producers.set(track.kind, producer);
  }

  isPublishing(kind) {
    return this.producers.has(kind);
  }

  // Mutes or unmutes what is sent of `kind`, here and on the server (whose
  // consumers then tell the others).
  async setPaused(kind, paused) {
    const producer = this.producers.get(kind);
    if (!producer) return;
    if (paused) {
      producer.pause();
      await this.signaling.request('pauseProducer', { producerId: producer.id });
    } else {
      producer.resume();
      await this.signaling.request('resumeProducer', { producerId: producer.id });
    }
  }

  // The server's own figures for each stream of the call (what the
  // exporter exports): [{ peerId (null for ours), kind, stat }]. A stream
  // that closes meanwhile is left out.
  async stats() {
    const ask = (method, data) => this.signaling.request(method, data).catch(() => []);
    const out = [];
    for (const [kind, producer] of this.producers) {
      const stats = await ask('getProducerStats', { producerId: producer.id });
      if (stats[0]) out.push({ peerId: null, kind, stat: stats[0] });
    }
    for (const [id, { consumer, peerId }] of this.consumers) {
      const stats = await ask('getConsumerStats', { consumerId: id });
      // The consumer's own stream; the producer's, also listed, has bitrateByLayer.
      const stat = stats.find((s) => !('bitrateByLayer' in s));
      if (stat) out.push({ peerId, kind: consumer.kind, stat });
    }
    return out;
  }

  rename(displayName) {
    return this.signaling.request('changeDisplayName', { displayName });
  }

  async serverRequest(method, data) {
    if (method !== 'newConsumer') throw new Error(`unknown request ${method}`);
    const consumer = await this.recvTransport.consume({
      id: data.id,
      producerId: data.producerId,
      kind: data.kind,
      rtpParameters: data.rtpParameters,
      appData: { peerId: data.peerId },
    });
    this.consumers.set(consumer.id, { consumer, peerId: data.peerId });
    this.events.track(data.peerId, consumer.track, Boolean(data.producerPaused));
  }

  notification(method, data) {
    const of = (id) => this.consumers.get(id);
    switch (method) {
      case 'newPeer':
        this.events.peerJoined(data);
        break;
      case 'peerClosed':
        for (const [id, c] of this.consumers) {
          if (c.peerId === data.peerId) this.dropConsumer(id);
        }
        this.events.peerLeft(data.peerId);
        break;
      case 'peerDisplayNameChanged':
        this.events.peerRenamed(data.peerId, data.displayName);
        break;
      case 'consumerClosed': {
        const c = of(data.consumerId);
        if (c) {
          this.dropConsumer(data.consumerId);
          this.events.trackGone(c.peerId, c.consumer.kind);
        }
        break;
      }
      case 'consumerPaused':
      case 'consumerResumed': {
        const c = of(data.consumerId);
        if (c) this.events.paused(c.peerId, c.consumer.kind, method === 'consumerPaused');
        break;
      }
      case 'roomClosed':
        this.events.ended(data.reason);
        break;
      default:
        break; // scores and the like: not shown
    }
  }

  dropConsumer(id) {
    const c = this.consumers.get(id);
    if (!c) return;
    c.consumer.close();
    this.consumers.delete(id);
  }

  leave() {
    for (const producer of this.producers.values()) producer.close();
    if (this.sendTransport) this.sendTransport.close();
    if (this.recvTransport) this.recvTransport.close();
    this.signaling.close();
  }
}
