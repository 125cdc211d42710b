/**
 * `when` predicates over plan variables, in the spirit of live-bootstrap's `( BUILD_KERNELS == True )`:
 * identifiers, strings, numbers, true/false, == !=, && || ! (or and/or/not), parentheses.
 */
export type Value = string | number | boolean;

export type Predicate =
  /** `text`: a number as written, which a string variable is compared with (`V == 1.10`). */
  | { kind: "literal"; value: Value; text?: string }
  | { kind: "variable"; name: string }
  | { kind: "not"; operand: Predicate }
  | { kind: "and" | "or"; left: Predicate; right: Predicate }
  | { kind: "==" | "!="; left: Predicate; right: Predicate };

export class PredicateSyntaxError extends Error {
  readonly column: number;
  constructor(message: string, column: number) {
    super(message);
    this.column = column;
  }
}

type Token = { text: string; column: number; kind: "op" | "ident" | "string" | "number" | "end" };

const TOKEN =
  /\s*(?:(\(|\)|==|!=|&&|\|\||!)|([A-Za-z_][A-Za-z0-9_]*)|"((?:[^"\\]|\\.)*)"|'([^']*)'|(-?\d+(?:\.\d+)?))/y;

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let position = 0;
  while (position < source.length) {
    if (/^\s*$/.test(source.slice(position))) break;
    TOKEN.lastIndex = position;
    const match = TOKEN.exec(source);
    if (!match) {
      const column =
        position + (source.slice(position).length - source.slice(position).trimStart().length) + 1;
      throw new PredicateSyntaxError(`unexpected character "${source[column - 1]}"`, column);
    }
    const column = match.index + match[0].length - match[0].trimStart().length + 1;
    if (match[1] !== undefined) tokens.push({ text: match[1], column, kind: "op" });
    else if (match[2] !== undefined) tokens.push({ text: match[2], column, kind: "ident" });
    else if (match[3] !== undefined)
      tokens.push({ text: match[3].replace(/\\(.)/g, "$1"), column, kind: "string" });
    else if (match[4] !== undefined) tokens.push({ text: match[4], column, kind: "string" });
    else tokens.push({ text: match[5] as string, column, kind: "number" });
    position = TOKEN.lastIndex;
  }
  tokens.push({ text: "end of expression", column: source.length + 1, kind: "end" });
  return tokens;
}

/** Bounds that keep the parser's (and every later walk's) recursion far from the stack's end. */
const LONGEST_PREDICATE = 1000;
const DEEPEST_NESTING = 64;

export function parsePredicate(source: string): Predicate {
  if (source.length > LONGEST_PREDICATE) {
    throw new PredicateSyntaxError(
      `a predicate is at most ${LONGEST_PREDICATE} characters, this one is ${source.length}`,
      LONGEST_PREDICATE + 1,
    );
  }
  const tokens = tokenize(source);
  let index = 0;
  let depth = 0;
  const enter = (token: Token) => {
    if (++depth > DEEPEST_NESTING) {
      throw new PredicateSyntaxError(`nested more than ${DEEPEST_NESTING} deep`, token.column);
    }
  };
  const peek = (): Token => tokens[index] as Token;
  const isOp = (token: Token, ...texts: string[]) =>
    (token.kind === "op" || token.kind === "ident") && texts.includes(token.text);

  const parseOr = (): Predicate => {
    let left = parseAnd();
    while (isOp(peek(), "||", "or")) {
      index++;
      left = { kind: "or", left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): Predicate => {
    let left = parseNot();
    while (isOp(peek(), "&&", "and")) {
      index++;
      left = { kind: "and", left, right: parseNot() };
    }
    return left;
  };
  const parseNot = (): Predicate => {
    if (isOp(peek(), "!", "not")) {
      enter(peek());
      index++;
      const operand = parseNot();
      depth--;
      return { kind: "not", operand };
    }
    const left = parseAtom();
    const next = peek();
    if (next.kind === "op" && (next.text === "==" || next.text === "!=")) {
      index++;
      return { kind: next.text, left, right: parseAtom() };
    }
    return left;
  };
  const parseAtom = (): Predicate => {
    const token = peek();
    index++;
    if (token.kind === "op" && token.text === "(") {
      enter(token);
      const inner = parseOr();
      depth--;
      const close = peek();
      if (close.kind !== "op" || close.text !== ")") {
        throw new PredicateSyntaxError(`expected ")", found ${describe(close)}`, close.column);
      }
      index++;
      return inner;
    }
    if (token.kind === "string") return { kind: "literal", value: token.text };
    if (token.kind === "number") return { kind: "literal", value: Number(token.text), text: token.text };
    if (token.kind === "ident") {
      if (/^(true|True)$/.test(token.text)) return { kind: "literal", value: true };
      if (/^(false|False)$/.test(token.text)) return { kind: "literal", value: false };
      if (["and", "or", "not"].includes(token.text)) {
        throw new PredicateSyntaxError(`expected a value, found "${token.text}"`, token.column);
      }
      return { kind: "variable", name: token.text };
    }
    throw new PredicateSyntaxError(`expected a value, found ${describe(token)}`, token.column);
  };

  const result = parseOr();
  const rest = peek();
  if (rest.kind !== "end") throw new PredicateSyntaxError(`unexpected ${describe(rest)}`, rest.column);
  return result;
}

function describe(token: Token): string {
  return token.kind === "end" ? "end of expression" : `"${token.text}"`;
}

export function predicateVariables(predicate: Predicate): string[] {
  switch (predicate.kind) {
    case "literal":
      return [];
    case "variable":
      return [predicate.name];
    case "not":
      return predicateVariables(predicate.operand);
    default:
      return [...predicateVariables(predicate.left), ...predicateVariables(predicate.right)];
  }
}

/**
 * Comparisons whose two sides can never be alike, given the variables' declared types: a number
 * variable against `true` is always false, which a plan means by mistake. A string variable may be
 * compared with a number as written (`VERSION == 1.10`).
 */
export function mismatchedComparisons(
  predicate: Predicate,
  variables: Readonly<Record<string, Value>>,
): string[] {
  // A comparison, a negation or a conjunction is itself true or false.
  const typeOf = (node: Predicate): string | undefined =>
    node.kind === "literal"
      ? typeof node.value
      : node.kind === "variable"
        ? node.name in variables
          ? typeof variables[node.name]
          : undefined
        : "boolean";
  const show = (node: Predicate): string =>
    node.kind === "variable"
      ? `${node.name} (a ${typeOf(node)})`
      : node.kind === "literal"
        ? `${node.text ?? JSON.stringify(node.value)} (a ${typeof node.value})`
        : `(${node.kind === "not" ? "a negation" : node.kind === "and" || node.kind === "or" ? `an ${node.kind}` : "a comparison"}, a boolean)`;
  switch (predicate.kind) {
    case "literal":
    case "variable":
      return [];
    case "not":
      return mismatchedComparisons(predicate.operand, variables);
    case "and":
    case "or":
      return [
        ...mismatchedComparisons(predicate.left, variables),
        ...mismatchedComparisons(predicate.right, variables),
      ];
    default: {
      const [left, right] = [typeOf(predicate.left), typeOf(predicate.right)];
      if (left === undefined || right === undefined || left === right) return [];
      const stringAndNumber =
        (left === "string" && predicate.right.kind === "literal" && right === "number") ||
        (right === "string" && predicate.left.kind === "literal" && left === "number");
      return stringAndNumber ? [] : [`${show(predicate.left)} ${predicate.kind} ${show(predicate.right)}`];
    }
  }
}

function truthy(value: Value): boolean {
  if (typeof value === "string") return value !== "" && !/^(false|0|no)$/i.test(value);
  return Boolean(value);
}

/** Compares loosely across types so that `--set X=true` (a string) equals a boolean literal. */
function equal(left: Value, right: Value): boolean {
  if (typeof left === typeof right) return left === right;
  return String(left).toLowerCase() === String(right).toLowerCase();
}

export function evaluatePredicate(predicate: Predicate, variables: Readonly<Record<string, Value>>): boolean {
  const value = (node: Predicate): Value => {
    switch (node.kind) {
      case "literal":
        return node.value;
      case "variable": {
        const found = variables[node.name];
        if (found === undefined) throw new Error(`unknown variable ${node.name}`);
        return found;
      }
      case "not":
        return !truthy(value(node.operand));
      case "and":
        return truthy(value(node.left)) && truthy(value(node.right));
      case "or":
        return truthy(value(node.left)) || truthy(value(node.right));
      case "==":
        return same(node.left, node.right);
      case "!=":
        return !same(node.left, node.right);
    }
  };
  // A string against a number as written: "1.10" == 1.10, and "1.1" is not.
  const same = (left: Predicate, right: Predicate): boolean => {
    const [a, b] = [value(left), value(right)];
    if (typeof a === "string" && right.kind === "literal" && right.text !== undefined)
      return a === right.text;
    if (typeof b === "string" && left.kind === "literal" && left.text !== undefined) return b === left.text;
    return equal(a, b);
  };
  return truthy(value(predicate));
}
