/**
 * A strict well-formedness checker for the SVG documents the library writes (moved here from
 * test/plot.test.ts so that every test that writes an SVG checks it the same way).
 */
export interface Element {
  name: string;
  attributes: Record<string, string>;
  children: Element[];
  text: string;
}

const NAME = /^[A-Za-z_:][\w:.-]*/;
const ENTITY = /^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;
// Characters XML 1.0 allows: tab, newline, carriage return, and everything from U+0020 except surrogates, U+FFFE and U+FFFF.
const XML_CHARS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/**
 * A strict checker of well-formed XML for the subset an SVG document uses (elements, attributes,
 * text, the five named entities and character references; no DTD, comments or CDATA, which the
 * plot module never writes). Throws on the first violation; returns the root element.
 */
export function parseXml(xml: string): Element {
  if (!XML_CHARS.test(xml)) throw new Error('contains characters XML does not allow');
  let pos = 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at ${pos}: ${JSON.stringify(xml.slice(pos, pos + 40))}`);
  };
  const skipSpace = (): void => {
    while (/\s/.test(xml[pos] ?? '')) pos++;
  };
  const readName = (): string => {
    const m = NAME.exec(xml.slice(pos));
    if (!m) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };
  /** Character data up to `stop`, checking that every & starts an entity and no < appears. */
  const readChars = (stop: string): string => {
    let out = '';
    while (pos < xml.length && xml[pos] !== stop) {
      if (xml[pos] === '<') fail('raw < in text or attribute');
      if (xml[pos] === '&') {
        const m = ENTITY.exec(xml.slice(pos));
        if (!m) fail('& that does not start an entity');
        out += m![0];
        pos += m![0].length;
      } else out += xml[pos++];
    }
    return out;
  };
  const readElement = (): Element => {
    if (xml[pos] !== '<') fail('expected <');
    pos++;
    const element: Element = { name: readName(), attributes: {}, children: [], text: '' };
    for (;;) {
      const before = pos;
      skipSpace();
      if (xml.startsWith('/>', pos)) {
        pos += 2;
        return element;
      }
      if (xml[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) fail('expected whitespace before an attribute');
      const attr = readName();
      if (attr in element.attributes) fail(`duplicate attribute ${attr}`);
      skipSpace();
      if (xml[pos] !== '=') fail('expected =');
      pos++;
      skipSpace();
      const quote = xml[pos];
      if (quote !== '"' && quote !== "'") fail('expected a quoted value');
      pos++;
      element.attributes[attr] = readChars(quote);
      if (xml[pos] !== quote) fail('unterminated attribute value');
      pos++;
    }
    for (;;) {
      element.text += readChars('<');
      if (pos >= xml.length) fail(`unclosed <${element.name}>`);
      if (xml.startsWith('</', pos)) {
        pos += 2;
        const closing = readName();
        if (closing !== element.name) fail(`</${closing}> closes <${element.name}>`);
        skipSpace();
        if (xml[pos] !== '>') fail('expected >');
        pos++;
        return element;
      }
      element.children.push(readElement());
    }
  };
  skipSpace();
  const root = readElement();
  skipSpace();
  if (pos !== xml.length) fail('content after the root element');
  return root;
}

export function all(root: Element, name: string): Element[] {
  const found: Element[] = [];
  const visit = (e: Element): void => {
    if (e.name === name) found.push(e);
    e.children.forEach(visit);
  };
  visit(root);
  return found;
}

/** The text of every <text> element, with entities decoded. */
export function texts(root: Element): string[] {
  return all(root, 'text').map((t) =>
    t.text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&'),
  );
}
