/**
 * Docker multiplexes a non-TTY container's stdout and stderr on one stream: each frame is an 8-byte
 * header (stream type, 3 zero bytes, big-endian payload length) followed by the payload. Chunks from
 * the socket split frames anywhere, so the demuxer keeps the unfinished tail between pushes.
 */

export type FrameStream = 'stdout' | 'stderr';

export interface Frame {
  stream: FrameStream;
  data: Buffer;
}

const HEADER = 8;

export class FrameDemuxer {
  private pending: Buffer = Buffer.alloc(0);

  /** Returns every frame completed by `chunk`, in order. Stdin frames (type 0) are dropped. */
  push(chunk: Buffer): Frame[] {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Frame[] = [];
    while (buf.length >= HEADER) {
      const size = buf.readUInt32BE(4);
      if (buf.length < HEADER + size) break;
      const type = buf[0];
      const data = buf.subarray(HEADER, HEADER + size);
      if (type === 1) out.push({ stream: 'stdout', data });
      else if (type === 2) out.push({ stream: 'stderr', data });
      buf = buf.subarray(HEADER + size);
    }
    this.pending = Buffer.from(buf);
    return out;
  }
}
