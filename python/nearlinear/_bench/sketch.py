def tour_cases():
    return []


def bench_cases(size, data=None):
    return []
