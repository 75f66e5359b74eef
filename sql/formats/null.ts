/** Null: reads the result and prints nothing (ClickHouse dbms/src/Formats/NullFormat.cpp). */
import type { Formatter } from './types';

export class NullFormatter implements Formatter {
  begin(): string {
    return '';
  }
  block(): string {
    return '';
  }
  end(): string {
    return '';
  }
}
