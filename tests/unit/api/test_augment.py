import torch
import torch.nn.functional as F

from harness.api.augment import crop_and_flip, normalize, random_crop_flip


def test_crop_and_flip_matches_reference_slicing() -> None:
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    top = torch.tensor([0, 8, 4, 3, 7])
    left = torch.tensor([8, 0, 4, 1, 2])
    flip = torch.tensor([False, True, False, True, True])
    out = crop_and_flip(images, 4, top, left, flip)
    padded = F.pad(images, (4, 4, 4, 4))
    for i in range(5):
        expected = padded[i, :, top[i] : top[i] + 32, left[i] : left[i] + 32]
        if flip[i]:
            expected = expected.flip(-1)
        assert torch.equal(out[i], expected)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_random_crop_flip_is_seeded_and_covers_all_offsets() -> None:
    images = torch.randint(1, 256, (400, 3, 32, 32), dtype=torch.uint8)
    a = random_crop_flip(images, 4, torch.Generator().manual_seed(3))
    b = random_crop_flip(images, 4, torch.Generator().manual_seed(3))
    c = random_crop_flip(images, 4, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # zero rows at the top appear exactly when the crop starts inside the padding
    top_padding_rows = (a[:, :, 0, :] == 0).all(dim=(1, 2))
    assert 0.3 < top_padding_rows.float().mean() < 0.6  # 4 of 9 offsets pad the top


def test_normalize_uses_per_channel_statistics() -> None:
    images = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize(images, torch.tensor([0.5, 0.0, 1.0]), torch.tensor([0.5, 1.0, 2.0]))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([1.0, 1.0, 0.0]))
