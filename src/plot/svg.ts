// A small SVG writer: elements as strings, numbers rounded to what a screen
// shows (a tenth of a pixel), text escaped.

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate as written: a tenth of a pixel is finer than any screen shows. */
export function px(value: number): string {
  const r = Math.round(value * 10) / 10;
  return Object.is(r, -0) ? '0' : String(r);
}

export type Attributes = Record<string, string | number | undefined>;

function attributeText(attributes: Attributes): string {
  let text = '';
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    text += ` ${name}="${escapeXml(typeof value === 'number' ? px(value) : value)}"`;
  }
  return text;
}

export function element(name: string, attributes: Attributes, children: string | readonly string[] = ''): string {
  const content = typeof children === 'string' ? children : children.join('');
  return content === '' ? `<${name}${attributeText(attributes)}/>` : `<${name}${attributeText(attributes)}>${content}</${name}>`;
}

export function text(x: number, y: number, content: string, attributes: Attributes = {}): string {
  return element('text', { x, y, ...attributes }, escapeXml(content));
}

/** Path data built piece by piece (M, L, V, H commands), for lines of thousands of points. */
export class PathData {
  private parts: string[] = [];

  moveTo(x: number, y: number): this {
    this.parts.push(`M${px(x)} ${px(y)}`);
    return this;
  }

  lineTo(x: number, y: number): this {
    this.parts.push(`L${px(x)} ${px(y)}`);
    return this;
  }

  vertical(y: number): this {
    this.parts.push(`V${px(y)}`);
    return this;
  }

  horizontal(x: number): this {
    this.parts.push(`H${px(x)}`);
    return this;
  }

  get empty(): boolean {
    return this.parts.length === 0;
  }

  toString(): string {
    return this.parts.join('');
  }
}
