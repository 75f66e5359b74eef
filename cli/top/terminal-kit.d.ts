// The part of terminal-kit (https://github.com/cronvel/terminal-kit) that `quell top` uses.
// Written here rather than taken from @types/terminal-kit, which describes the 2.x API.
declare module 'terminal-kit' {
  export interface Attr {
    readonly color?: string;
    readonly bgColor?: string;
    readonly bold?: boolean;
    readonly dim?: boolean;
    readonly inverse?: boolean;
    readonly underline?: boolean;
  }

  export interface KeyData {
    readonly isCharacter?: boolean;
  }

  export interface Terminal {
    readonly width: number;
    readonly height: number;
    readonly isTTY: boolean;
    fullscreen(on: boolean | { noAlternate?: boolean }): unknown;
    grabInput(on: boolean | Record<string, unknown>, safe?: boolean): Promise<void>;
    hideCursor(hide?: boolean): Terminal;
    styleReset(): Terminal;
    asyncCleanup(): Promise<void>;
    on(event: 'key', listener: (name: string, matches: string[], data: KeyData) => void): Terminal;
    on(event: 'resize', listener: (width: number, height: number) => void): Terminal;
    off(event: string, listener: (...args: never[]) => void): Terminal;
  }

  export class ScreenBuffer {
    constructor(options: { dst: Terminal; width?: number; height?: number; x?: number; y?: number });
    readonly width: number;
    readonly height: number;
    fill(options?: { char?: string; attr?: Attr }): void;
    put(options: { x: number; y: number; attr?: Attr; wrap?: boolean; dx?: number; dy?: number }, text: string): void;
    draw(options?: { delta?: boolean }): void;
  }

  export const terminal: Terminal;
}
