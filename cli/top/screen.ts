import { ScreenBuffer, terminal, type Attr, type Terminal } from 'terminal-kit';
import type { LineStyle, ScreenLine } from './layout';

const STYLES: Record<LineStyle, Attr> = {
  title: { bold: true },
  input: { color: 'yellow', bold: true },
  silent: { color: 'white', bgColor: 'red', bold: true },
  error: { color: 'red', bold: true },
  notice: { color: 'yellow' },
  header: { inverse: true },
  row: {},
  selected: { color: 'black', bgColor: 'cyan' },
  dialog: { color: 'white', bgColor: 'blue' },
  footer: { dim: true },
};

/**
 * The terminal side of `quell top`, on terminal-kit: the alternate screen, raw key input, and
 * a screen buffer redrawn by difference, so a refresh rewrites only the cells that changed.
 * stop() puts the terminal back as it was.
 */
export class TopScreen {
  private readonly term: Terminal = terminal;
  private buffer: ScreenBuffer | undefined;
  private stopped = false;

  get width(): number {
    return this.term.width;
  }
  get height(): number {
    return this.term.height;
  }

  start(onKey: (name: string) => void, onResize: () => void): void {
    this.term.fullscreen(true);
    this.term.hideCursor(true);
    void this.term.grabInput(true);
    this.term.on('key', (name) => onKey(name));
    this.term.on('resize', () => {
      // a new size needs a new buffer, drawn whole: the old cells are no guide to the new screen
      this.buffer = undefined;
      onResize();
    });
  }

  draw(lines: readonly ScreenLine[]): void {
    if (this.stopped) return;
    const fresh = this.buffer === undefined;
    const buffer = this.buffer ?? new ScreenBuffer({ dst: this.term, width: this.term.width, height: this.term.height });
    this.buffer = buffer;
    buffer.fill({ char: ' ' });
    lines.forEach((line, y) => {
      if (y >= buffer.height) return;
      // a styled line is styled to the right edge: the selection bar and the dialog read as blocks
      const padded = line.style === 'row' || line.style === 'footer' ? line.text : line.text + ' '.repeat(Math.max(0, buffer.width - [...line.text].length));
      buffer.put({ x: 0, y, attr: STYLES[line.style], wrap: false }, padded);
    });
    buffer.draw({ delta: !fresh });
  }

  /** Leaves the alternate screen, shows the cursor and releases the keyboard. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.term.styleReset();
    this.term.hideCursor(false);
    this.term.fullscreen(false);
    await this.term.grabInput(false, true);
  }
}
