import numpy as np
import pytest

from nearlinear.datasets import load_movielens

LINES = ["1\t2\t5\t881250949", "3\t1\t3\t891717742", "2\t4\t1\t878887116"]


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def test_file_is_read_with_zero_based_indices(tmp_path):
    ratings = load_movielens(write(tmp_path / "u.data", LINES))
    np.testing.assert_array_equal(ratings.rows, [0, 2, 1])
    np.testing.assert_array_equal(ratings.cols, [1, 0, 3])
    np.testing.assert_array_equal(ratings.values, [5.0, 3.0, 1.0])
    assert ratings.values.dtype == np.float64 and ratings.rows.dtype == np.int64
    np.testing.assert_array_equal(ratings.timestamps, [881250949, 891717742, 878887116])
    assert ratings.shape == (3, 4) and len(ratings) == 3


def test_split_reads_base_and_test_with_shape_from_info(tmp_path):
    write(tmp_path / "u1.base", LINES[:2])
    write(tmp_path / "u1.test", LINES[2:])
    (tmp_path / "u.info").write_text("5 users\n7 items\n3 ratings\n")
    train, test = load_movielens(tmp_path, "u1")
    assert len(train) == 2 and len(test) == 1
    assert train.shape == test.shape == (5, 7)
    np.testing.assert_array_equal(test.rows, [1])


def test_split_without_info_takes_the_largest_ids(tmp_path):
    write(tmp_path / "ua.base", LINES[:2])
    write(tmp_path / "ua.test", LINES[2:])
    train, test = load_movielens(str(tmp_path), "ua")
    assert train.shape == test.shape == (3, 4)


def test_directory_without_split_reads_u_data(tmp_path):
    write(tmp_path / "u.data", LINES)
    assert len(load_movielens(tmp_path)) == 3


@pytest.mark.parametrize("split", ["u6", "x", 1])
def test_unknown_split(tmp_path, split):
    with pytest.raises(ValueError, match="`split`"):
        load_movielens(tmp_path, split)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "nope")
    write(tmp_path / "u1.base", LINES)
    with pytest.raises(FileNotFoundError, match="u1.test"):
        load_movielens(tmp_path, "u1")


def test_split_with_a_file_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="`split` must be None"):
        load_movielens(write(tmp_path / "u.data", LINES), "u1")


@pytest.mark.parametrize("lines", [["1\t2\t5"], ["a\tb\tc\td"], ["0\t1\t5\t1"]])
def test_malformed_files(tmp_path, lines):
    with pytest.raises(ValueError):
        load_movielens(write(tmp_path / "u.data", lines))
