package dev.ferry.bench;

import java.util.List;

/** The median of a benchmark's repetitions: the middle one, or the mean of the two middle ones; NaN for none. */
final class Median {
    private Median() {}

    static double of(List<Double> values) {
        List<Double> v = values.stream().sorted().toList();
        int n = v.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }
}
