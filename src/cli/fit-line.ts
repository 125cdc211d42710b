/**
 * Cuts a status line to the terminal's width. By display columns once cli-truncate is loaded (a wide
 * character takes two: cut by characters, a line of them wraps, and each redraw leaves a row behind);
 * by characters until then. Loaded only by a reporter that draws on a terminal.
 */
export type FitLine = (line: string, columns: number) => string;

export function lineFitter(live: boolean): FitLine {
  let fit: FitLine = (line, columns) => (line.length > columns ? `${line.slice(0, columns - 1)}…` : line);
  if (live)
    import("cli-truncate").then(
      ({ default: cliTruncate }) => {
        fit = (line, columns) => cliTruncate(line, columns);
      },
      () => {},
    );
  return (line, columns) => fit(line, columns);
}
