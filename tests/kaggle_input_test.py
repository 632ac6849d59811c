"""The bounded search of Kaggle's input root."""

from monet_gan.data import kaggle_input


def test_the_root_is_kaggle_s_unless_the_variable_moves_it(monkeypatch):
    monkeypatch.delenv(kaggle_input.INPUT_ENV, raising=False)
    assert kaggle_input.input_root() == "/kaggle/input"
    monkeypatch.setenv(kaggle_input.INPUT_ENV, "/elsewhere")
    assert kaggle_input.input_root() == "/elsewhere"


def test_search_is_breadth_first_bounded_and_skips_image_folders(tmp_path):
    for folder in ("a/b/wanted", "a/wanted", "photo_jpg/wanted", "1/2/3/4/5/wanted", "a/wanted/c/wanted"):
        (tmp_path / folder).mkdir(parents=True)
    found = kaggle_input.search(tmp_path, lambda path: path.endswith("wanted"))
    assert found == [str(tmp_path / "a" / "wanted"), str(tmp_path / "a" / "b" / "wanted")]
    assert kaggle_input.search(tmp_path / "missing", lambda path: True) == []


def test_candidates_list_the_known_places_first(tmp_path):
    for folder in ("competitions/gan-getting-started", "gan-getting-started", "aaa/copy"):
        (tmp_path / folder).mkdir(parents=True)
    holds_data = lambda path: path.endswith(("gan-getting-started", "copy"))  # noqa: E731
    assert kaggle_input.candidate_dirs(holds_data, str(tmp_path)) == [
        str(tmp_path / "competitions" / "gan-getting-started"),
        str(tmp_path / "gan-getting-started"),
        str(tmp_path / "aaa" / "copy"),
    ]
