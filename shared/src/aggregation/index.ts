export { WeightedMeanAccumulator, weightedMean } from "./weighted-mean.js";
