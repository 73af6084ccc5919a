import type { IssueCounter } from '../common/issue-counter.js';
import { MAX_STORABLE_WIRELEN } from './capture-limits.js';
import type { ResolvedCaptureOptions } from './capture-options.js';
import type { CaptureFormat, CaptureSource } from './capture-source.js';
import type { ChunkedInput } from './chunked-input.js';
import type { Compression } from './compression.js';
import { createPacketBatch, type CaptureInterface, type PacketBatch } from './packet-batch.js';
import { ParseStatus } from './parse-status.js';

/**
 * What the pcap and pcapng readers share: a CaptureSource over a ChunkedInput, and the async
 * `batches()` driver around the format's synchronous parse pass.
 *
 * A format implements `parse` (fill the batch from the whole records in the buffer; never awaits; on
 * NEED_MORE it sets `need`) and `resync` (after CORRUPT, move `input.start` to the next plausible
 * record). The driver yields every non-empty batch, reads more input on NEED_MORE and resynchronises
 * on CORRUPT. Both formats put records back to back up to the end of the file, so bytes left over
 * when it ends are a cut record (`truncated_file`); a failed resync counts `unrecoverable_corruption`.
 */
export abstract class BatchReader implements CaptureSource {
  abstract readonly format: CaptureFormat;
  readonly interfaces: CaptureInterface[] = [];
  /** Bytes the parse pass needs from `input.start` when it stopped with NEED_MORE. */
  protected need = 0;
  /** DataView over `input.buffer`, read through `currentView()`. */
  private view: DataView;
  /** Nothing (more) to read: the header was unusable, or close() was called. */
  private finished: boolean;
  private iterated = false;

  protected constructor(
    protected readonly input: ChunkedInput,
    protected readonly issues: IssueCounter,
    private readonly options: ResolvedCaptureOptions,
    readonly compression: Compression | null,
    usable: boolean,
  ) {
    this.view = new DataView(input.buffer.buffer, input.buffer.byteOffset, input.buffer.byteLength);
    this.finished = !usable;
  }

  /** Parses whole records from `input` into `batch` until it is full or the next record is incomplete or corrupt; never awaits. */
  protected abstract parse(batch: PacketBatch): ParseStatus;

  /** After CORRUPT, moves `input.start` to the next plausible record; false when there is none. */
  protected abstract resync(): Promise<boolean>;

  get bytesRead(): number {
    return this.input.bytesRead;
  }

  get totalBytes(): number | null {
    return this.input.totalBytes;
  }

  /** Closes the file. */
  async close(): Promise<void> {
    this.finished = true;
    await this.input.close();
  }

  /** Yields batches of packets; each batch is reused, so finish with it before asking for the next. Iterable once. */
  async *batches(): AsyncGenerator<PacketBatch> {
    if (this.iterated) throw new Error(`${this.constructor.name}.batches() can be iterated only once`);
    this.iterated = true;
    const batch = createPacketBatch(this.options.batchCapacity);
    const input = this.input;
    try {
      while (!this.finished) {
        const status = this.parse(batch);
        if (batch.count > 0) {
          yield batch;
          batch.count = 0;
          if (this.finished) break; // close() was called while the consumer held the batch
        }
        if (status === ParseStatus.NEED_MORE) {
          if (!(await input.require(this.need))) {
            // The file ended inside a record (see the format's `parse`).
            if (input.available > 0) this.issues.add('truncated_file');
            break;
          }
        } else if (status === ParseStatus.CORRUPT) {
          if (!(await this.resync())) {
            this.issues.add('unrecoverable_corruption');
            break;
          }
        }
      }
    } finally {
      await this.close();
    }
  }

  /** Refreshes the DataView after the input buffer was replaced by a bigger one. */
  protected currentView(): DataView {
    const buffer = this.input.buffer;
    if (this.view.buffer !== buffer.buffer) this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    return this.view;
  }
}

/** The wire length as a batch stores it: beyond MAX_STORABLE_WIRELEN it is clamped and counted `wirelen_exceeds_limit`. */
export function storableWirelen(wirelen: number, issues: IssueCounter): number {
  if (wirelen <= MAX_STORABLE_WIRELEN) return wirelen;
  issues.add('wirelen_exceeds_limit');
  return MAX_STORABLE_WIRELEN;
}
