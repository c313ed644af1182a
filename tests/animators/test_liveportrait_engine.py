"""The liveportrait engine end to end: a real clip drives the tiny golden-fixture weights (random,
calibrated) on the CPU, through the same FrameProcessor the live pipeline uses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from _media import media, needs_extra
from golden import golden

torch = needs_extra("neural", "torch")  # a light install skips this module

from livehead.animators import create_animator
from livehead.animators.neural import liveportrait_face as face
from livehead.avatars.photo import load_avatar
from livehead.config import LiveHeadConfig, with_overrides
from livehead.errors import LiveHeadError
from livehead.pipeline.processor import FrameProcessor
from livehead.stages.tracking import FaceTracker

SIZE = (320, 240)  # output size; the avatar is fitted inside it
CLIP = "liveportrait_d6.mp4"
PHOTO = "liveportrait_s7.jpg"


def smallest_crop() -> int:
    """The smallest input the fixture's architecture takes: M downsamples by 32, W's hourglass
    halves the quarter-size volume num_blocks times."""
    params = golden("liveportrait").model_params
    return max(32, 4 * 2 ** params["warping_module_params"]["dense_motion_params"]["num_blocks"])


def engine(**options):
    fx = golden("liveportrait")
    return create_animator("liveportrait", checkpoint=str(fx.checkpoint_path), model_config=str(fx.yaml_path),
                           device="cpu", crop_size=smallest_crop(), **options)


# Small tensors on a shared 2-core machine: a second thread only contends.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    return engine()


@pytest.fixture(scope="module")
def follow(tiny, avatar, clip):
    """The default modes' frames for the clip."""
    return run(tiny, avatar, clip)


@pytest.fixture(scope="module")
def avatar():
    return load_avatar(media(PHOTO), working_size=SIZE)


@pytest.fixture(scope="module")
def clip():
    """(rgb, tracked face, timestamp) for the first frames of a real talking-head clip."""
    cap = cv2.VideoCapture(str(media(CLIP)))
    out = []
    with FaceTracker() as tracker:
        for i in range(2):
            ok, bgr = cap.read()
            assert ok, f"could not decode frame {i} of {CLIP}"
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            out.append((rgb, tracker.track(rgb, i / 25.0), i / 25.0))
    cap.release()
    assert all(obs is not None for _, obs, _ in out), "MediaPipe lost the face in the test clip"
    return out


def run(animator, avatar, clip, state=None, extras=None):
    cfg = with_overrides(LiveHeadConfig(), {"output.size": SIZE})
    proc = FrameProcessor(cfg, animator, state or animator.prepare(avatar))
    proc.engine_controls = dict(extras or {})
    return [proc.process(rgb, obs, now=t) for rgb, obs, t in clip]


def footprint(animator, state) -> np.ndarray:
    """Where the pasted crop reaches into the photo: (H, W) blend weights in [0, 1]."""
    h, w = state.avatar.image.shape[:2]
    scale = np.diag([animator.output_size / animator.crop_size] * 2)
    inverse = cv2.invertAffineTransform(scale @ state.box)
    return cv2.warpAffine(face.paste_mask(animator.output_size), inverse, (w, h), flags=cv2.INTER_LINEAR)


class TestEndToEnd:
    def test_renders_the_photo_with_the_face_replaced(self, tiny, avatar, follow):
        assert tiny.describe()["engine"] == "liveportrait" and tiny.describe()["backend"] == "torch"
        results = follow
        alpha = footprint(tiny, tiny.prepare(avatar))
        outside, inside = alpha == 0.0, alpha > 0.99
        assert outside.any() and inside.any()
        for r in results:
            assert r.avatar_frame.shape == avatar.image.shape and r.avatar_frame.dtype == np.uint8
            assert r.output.shape == (SIZE[1], SIZE[0], 3)
            np.testing.assert_array_equal(r.avatar_frame[outside], avatar.image[outside])  # photo kept there
            diff = np.abs(r.avatar_frame.astype(int) - avatar.image)[inside]
            assert diff.mean() > 5.0  # the generated face (random weights: noise) replaced the photo there

    def test_face_loss_does_not_crash_and_eases_back(self, tiny, avatar, clip):
        cfg = with_overrides(LiveHeadConfig(), {"output.size": SIZE})
        state = tiny.prepare(avatar)
        proc = FrameProcessor(cfg, tiny, state)
        assert np.array_equal(proc.process(None, None, now=0.0).avatar_frame, avatar.image)  # no face yet
        live = [proc.process(rgb, obs, now=t) for rgb, obs, t in clip]
        lost = [proc.process(None, None, now=clip[-1][2] + dt) for dt in (0.1, 0.6, 5.0)]
        assert all(r.face_lost and r.avatar_frame.shape == avatar.image.shape for r in lost)
        assert lost[-1].amount == 0.0
        # Fully eased back: the face the driver's calibration pose gives (the first live frame is
        # the calibration frame), whatever the driver did last.
        assert np.abs(lost[-1].avatar_frame.astype(int) - live[0].avatar_frame).max() <= 1
        assert np.abs(lost[0].avatar_frame.astype(int) - live[-1].avatar_frame).max() <= 1  # held at first

    def test_deterministic_and_cached_state_renders_the_same(self, tiny, avatar, clip, follow, tmp_path):
        state = tiny.prepare(avatar)
        tiny.save_state(state, tmp_path / "a.state")
        loaded = tiny.load_state(avatar, tmp_path / "a.state")
        np.testing.assert_array_equal(loaded.box, state.box)
        for a, b in zip(follow, run(tiny, avatar, clip, loaded)):
            np.testing.assert_array_equal(a.avatar_frame, b.avatar_frame)


def session(animator, avatar, clip, extras=None):
    """Outputs of a scripted session: the clip, a repeated timestamp, a recalibration, the face lost."""
    cfg = with_overrides(LiveHeadConfig(), {"output.size": SIZE, "output.mirror": True})
    proc = FrameProcessor(cfg, animator, animator.prepare(avatar))
    proc.engine_controls = dict(extras or {})
    outs = [proc.process(rgb, obs, now=t).output for rgb, obs, t in clip]
    rgb, obs, t = clip[-1]
    outs.append(proc.process(rgb, obs, now=t).output)  # the same timestamp again
    proc.calibrate()
    outs += [proc.process(rgb, obs, now=t + 0.04 * (i + 1)).output for i, (rgb, obs, _) in enumerate(clip)]
    return outs + [proc.process(None, None, now=t + dt).output for dt in (0.6, 1.0)]  # easing back


@pytest.fixture(scope="module")
def tensor_engine():
    return engine(frame_path="tensor")


class TestTensorFramePath:
    """The GPU-resident frame path (crop, filters, retargeting, stitching, paste-back, composition on
    the engine's device), run here on CPU tensors, renders what the OpenCV/NumPy path renders."""

    @pytest.mark.parametrize("extras", [{}, {"eyes": "retarget", "lips": "retarget"}, {"eyes": "open", "lips": "closed"}],
                             ids=["follow", "retarget", "open-closed"])
    def test_renders_what_the_arrays_path_renders(self, tiny, tensor_engine, avatar, clip, extras):
        expected = session(tiny, avatar, clip, extras)
        got = session(tensor_engine, avatar, clip, extras)
        assert len(got) == len(expected)
        for i, (e, g) in enumerate(zip(expected, got)):
            assert g.shape == (SIZE[1], SIZE[0], 3) and g.dtype == np.uint8
            diff = np.abs(e.astype(int) - g)
            assert diff.mean() <= 0.5 and np.percentile(diff, 99.9) <= 3 and diff.max() <= 10, (i, diff.mean(), diff.max())
        np.testing.assert_array_equal(got[len(clip)], got[len(clip) - 1])  # a repeated timestamp changes nothing
        assert np.abs(got[1].astype(int) - got[0]).max() > 0  # the driver's motion shows
        # recalibrated on the same frame: the first frame renders as it did at the start (filters restarted)
        np.testing.assert_array_equal(got[len(clip) + 1], got[0])

    def test_says_what_runs(self, tiny, tensor_engine):
        assert not tiny.tensor_path and "OpenCV/NumPy frame path" in tiny.describe()["detail"]  # cpu: arrays
        info = tensor_engine.describe()
        assert info["device"] == "cpu" and "tensor frame path" in info["detail"]
        assert tensor_engine.composes_output and not tensor_engine.capture  # no CUDA here: eager steps

    def test_render_gives_the_avatar_size_frame(self, tensor_engine, avatar, clip):
        """``render`` (what eval uses) is the picture ``render_composed`` letterboxes."""
        from livehead.animators.base import Driving
        from livehead.stages.compose import Compositor

        state = tensor_engine.prepare(avatar)
        rgb, obs, t = clip[0]
        driving = Driving(observation=obs, reference=obs, reference_id=1, target_landmarks=obs.landmarks, frame=rgb,
                          reference_frame=rgb, timestamp=t)
        frame = tensor_engine.render(state, driving)
        assert frame.shape == avatar.image.shape
        h, w = avatar.image.shape[:2]
        compositor = Compositor(size=(w + 80, h), mirror=True, background=(0, 40, 0))  # bars, no resizing
        np.testing.assert_array_equal(tensor_engine.render_composed(state, driving, compositor), compositor.compose(frame))


class TestControls:
    def test_eye_and_lip_modes_change_the_face(self, tiny, avatar, clip, follow):
        follow = follow[-1].avatar_frame
        for extras in ({"eyes": "retarget"}, {"eyes": "open"}, {"lips": "retarget"}, {"lips": "closed"}):
            frame = run(tiny, avatar, clip, extras=extras)[-1].avatar_frame
            assert np.abs(frame.astype(int) - follow).max() > 0, f"{extras} rendered the same face as follow"

    def test_fixed_pose_and_strength(self, avatar, clip, follow):
        follow = follow[-1].avatar_frame
        for options in ({"pose": "frontal"}, {"expression_strength": 0.0}):
            frame = run(engine(**options), avatar, clip)[-1].avatar_frame
            assert np.abs(frame.astype(int) - follow).max() > 0, f"{options} changed nothing"

    def test_bad_modes_name_the_choices(self, tiny, avatar, clip):
        with pytest.raises(LiveHeadError, match="follow, retarget, open"):
            engine(eyes="wide")
        with pytest.raises(LiveHeadError, match="--pose"):
            engine(pose="sideways")
        with pytest.raises(LiveHeadError, match="--lips must be one of follow, retarget, closed"):
            run(tiny, avatar, clip, extras={"lips": "pout"})


def test_too_few_keypoints_for_retargeting_is_refused(monkeypatch):
    """The eye/lip keypoint indices are the original code's: a checkpoint with fewer keypoints is
    refused at load, naming the count, instead of an IndexError mid-stream."""
    from livehead.models.liveportrait import keypoints as lpk

    num_kp = golden("liveportrait").num_kp
    monkeypatch.setattr(lpk, "LIP_KEYPOINTS", lpk.LIP_KEYPOINTS + (num_kp,))
    with pytest.raises(LiveHeadError, match=f"has {num_kp} keypoints.*at least {num_kp + 1}"):
        engine()


class TestFaceMeasurements:
    """LivePortrait's crop and ratios measured on MediaPipe landmarks."""

    def test_upright_photo_gives_a_level_centred_crop(self, avatar):
        centre, side, angle = face.crop_rect(avatar.face.landmarks, face.SOURCE_CROP)
        assert abs(np.degrees(angle)) < 5.0  # the photo is frontal and upright
        x0, y0, x1, y1 = avatar.face.box
        assert side > face.SOURCE_CROP.scale * 0.8 * max(x1 - x0, y1 - y0) * 0.5
        # vy_ratio < 0 moves the crop towards the forehead: above the landmarks' centre
        assert centre[1] < avatar.face.landmarks[:, 1].mean()

    def test_rotated_face_rotates_the_crop(self, avatar):
        """Asymmetric check of the sign: turning the landmarks by +12 degrees in image coordinates
        (y down) turns the crop by +12 degrees, and the crop levels the eyes again."""
        points = avatar.face.landmarks[:, :2].astype(np.float64)
        pivot = points.mean(axis=0)
        theta = np.radians(12.0)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        turned = (points - pivot) @ rot.T + pivot
        _, _, angle0 = face.crop_rect(points, face.SOURCE_CROP)
        centre, side, angle = face.crop_rect(turned, face.SOURCE_CROP)
        assert np.degrees(angle - angle0) == pytest.approx(12.0, abs=1e-6)
        matrix = face.crop_matrix(centre, side, angle, 256)
        in_crop = turned @ matrix[:, :2].T + matrix[:, 2]
        levelled = in_crop[[33, 263]]  # outer eye corners, as level as in the upright photo
        upright = points @ face.crop_matrix(*face.crop_rect(points, face.SOURCE_CROP), 256)[:, :2].T
        assert levelled[0, 1] - levelled[1, 1] == pytest.approx(upright[33, 1] - upright[263, 1], abs=1e-6)

    def test_driver_crop_is_not_rotated(self):
        assert not face.DRIVING_CROP.rotate and face.SOURCE_CROP.rotate

    def test_ratios(self, avatar):
        landmarks = avatar.face.landmarks.copy()
        left, right = face.eye_ratios(landmarks)
        assert 0.1 < left < 0.6 and 0.1 < right < 0.6  # open eyes in the photo
        shut = landmarks.copy()
        shut[145] = shut[159]  # image-left eye (subject's right) closed
        assert face.eye_ratios(shut)[0] == 0.0 and face.eye_ratios(shut)[1] == right
        opened = landmarks.copy()
        opened[14, 1] += 0.3 * np.linalg.norm(landmarks[61, :2] - landmarks[291, :2])
        assert face.lip_ratio(opened) > face.lip_ratio(landmarks) + 0.2


class TestSettingsAndHotkeys:
    def test_cli_flags_reach_the_engine_config(self):
        from livehead.commands.run import cli_overrides

        assert cli_overrides(["--engine", "liveportrait", "--eyes", "retarget", "--lips", "closed"]) == {
            "engine.engine": "liveportrait", "engine.eyes": "retarget", "engine.lips": "closed"}
        with pytest.raises(SystemExit):
            cli_overrides(["--eyes", "wide"])

    def test_config_builds_the_engine_with_its_modes(self):
        from livehead.animators import animator_from_config

        fx = golden("liveportrait")
        cfg = with_overrides(LiveHeadConfig(), {
            "engine.engine": "liveportrait", "engine.checkpoint": str(fx.checkpoint_path),
            "engine.model_config": str(fx.yaml_path), "engine.device": "cpu",
            "engine.crop_size": smallest_crop(), "engine.eyes": "open", "engine.lips": "retarget",
            "engine.pose": "frontal"})
        animator = animator_from_config(cfg)
        assert (animator.eyes, animator.lips, animator.fixed_pose) == ("open", "retarget", (0.0, 0.0, 0.0))
        assert "eyes open, lips retarget" in animator.describe()["detail"]

    def test_keys_cycle_the_modes_and_reach_the_engine(self, avatar, clip):
        from livehead.ui.controls import ControlState, apply
        from livehead.ui.keymap import Dispatcher, build_keymap

        posted = []
        Dispatcher(build_keymap(), posted.append).handle_key("e")
        state, effects = apply(ControlState(eyes="follow", lips="follow"), posted[0])
        assert (state.eyes, effects) == ("retarget", ("engine_controls",))
        for expected in ("open", "follow"):
            state, _ = apply(state, posted[0])
            assert state.eyes == expected
        Dispatcher(build_keymap(), posted.append).handle_key("T")
        state, _ = apply(state, posted[1])
        assert state.lips == "retarget"

        seen = []

        class Recorder:
            name = "recorder"

            def prepare(self, avatar):
                from livehead.animators.mesh.animator import MeshAnimator

                return MeshAnimator().prepare(avatar)

            def render(self, st, driving):
                seen.append(dict(driving.extras))
                return st.avatar.image.copy()

            def describe(self):
                return {"engine": "recorder"}

        recorder = Recorder()
        cfg = with_overrides(LiveHeadConfig(), {"output.size": SIZE})
        proc = FrameProcessor(cfg, recorder, recorder.prepare(avatar))
        proc.engine_controls = {"eyes": state.eyes, "lips": state.lips}
        proc.process(*clip[0][:2], now=clip[0][2])
        assert seen[-1]["eyes"] == "follow" and seen[-1]["lips"] == "retarget"
