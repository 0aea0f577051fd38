/** Adagrad (torch.optim.Adagrad); the arithmetic is in native/kernels/adagrad.h. */
import { UpdateKind } from '../kernels';
import { booleanOption, lrOption, numberOption } from './options';
import { Optimizer, OptimizerOptions, OptimizerSpec, ParamsInput } from './optimizer';

export type AdagradOptions = {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  /** 1e-8 (the textbook's); PyTorch's default is 1e-10. */
  eps: number;
  maximize: boolean;
};

const spec: OptimizerSpec<AdagradOptions> = {
  name: 'Adagrad',
  options: {
    lr: lrOption(1e-2),
    lrDecay: numberOption(0, { min: 0 }),
    weightDecay: numberOption(0, { min: 0 }),
    initialAccumulatorValue: numberOption(0, { min: 0 }),
    eps: numberOption(1e-8, { min: 0 }),
    maximize: booleanOption(false),
  },
  stateBuffers: () => ['sum'],
  buffers: ['sum'],
  initialValue: (_buffer, g) => g.initialAccumulatorValue,
  kernel: () => UpdateKind.Adagrad,
  scalars(g, step, _fresh, gradScale, out) {
    out[0] = g.maximize ? -gradScale : gradScale;
    out[1] = g.weightDecay;
    out[2] = g.lr / (1 + (step - 1) * g.lrDecay);
    out[3] = g.eps;
  },
};

export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: ParamsInput<AdagradOptions>, options?: Partial<AdagradOptions> & OptimizerOptions) {
    super(spec, params, options);
  }
}

/** The textbook's spelling. */
export const AdaGrad = Adagrad;
export type AdaGrad = Adagrad;
