/** `fusedoptim compare` (`npm run compare`): the textbook's optimizer table and the schedule comparison. */
import { STATE_DTYPE_OPTIONS, StateDtypeOption } from '../compact/state_storage';
import { CliIo, Command } from './io';

export const compareCommand: Command = {
  spec: {
    usage: 'fusedoptim compare',
    description:
      "Runs the textbook's seven optimizer configurations on its least-squares problem and prints its\n" +
      'table (final loss and gap) with the textbook\'s NumPy numbers beside ours; then compares cosine\n' +
      'annealing with warm restarts on the digits MLP (exercise 3). Writes SVG plots and compare.json.',
    flags: [
      { name: 'out', kind: 'string', placeholder: 'dir', help: 'output folder', defaultText: 'runs/compare' },
      { name: 'epochs', kind: 'integer', range: { min: 1 }, placeholder: 'n', help: 'epochs of each digits run', defaultText: '14' },
      { name: 'seed', kind: 'integer', range: { min: 0, max: 2 ** 32 - 1 }, placeholder: 'n', help: 'seed of the digits runs', defaultText: '0' },
      { name: 'skip-schedules', kind: 'boolean', help: 'only the least-squares tables' },
      { name: 'state-dtype', kind: 'string', choices: STATE_DTYPE_OPTIONS, help: "how the digits runs' AdamW stores its moments", defaultText: 'float32' },
    ],
  },

  async run(flags, _positionals, io: CliIo): Promise<number> {
    const { runCompare } = await import('./jobs/compare/run');
    await runCompare({
      outDir: flags.out as string | undefined,
      epochs: flags.epochs as number | undefined,
      seed: flags.seed as number | undefined,
      skipSchedules: flags['skip-schedules'] === true,
      ...(flags['state-dtype'] !== undefined && { stateDtype: flags['state-dtype'] as StateDtypeOption }),
      output: io.stdout,
    });
    return 0;
  },
};
