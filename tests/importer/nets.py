"""Small torch models for the import tests: every mapping and pattern `shufflecalc import` knows, and hostile ones.

Importable as TARGETs: ``tests.importer.nets:shuffle_net`` (the tests run from the repository root).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ShuffleUnit(nn.Module):
    """ShuffleNetV2's stride-1 unit with a squeeze-and-excitation: chunk, a branch, SE (F.adaptive_avg_pool2d,
    two 1x1 convs, sigmoid, mul), cat, and the channel shuffle written as view-transpose-contiguous-view."""

    def __init__(self, c: int) -> None:
        super().__init__()
        half = c // 2
        self.pw = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.dw = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.fc1 = nn.Conv2d(half, 4, 1)
        self.fc2 = nn.Conv2d(4, half, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        b = F.relu(self.bn1(self.pw(b)))
        b = self.bn2(self.dw(b))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(b, 1)))))
        out = torch.cat([a, b * s], 1)
        n, c, h, w = out.size()
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


class ShuffleNet(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        self.units = nn.Sequential(ShuffleUnit(16), ShuffleUnit(16))
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.units(x) + x  # a residual around the stage
        x = F.max_pool2d(x, 3, 2, 1)
        return self.fc(x.mean([2, 3]))


def shuffle_net(classes: int = 10) -> nn.Module:
    return ShuffleNet(classes)


class Modules(nn.Module):
    """One of every torch.nn module the import maps, with shapes that keep them valid."""

    def __init__(self) -> None:
        super().__init__()
        self.same = nn.Conv2d(3, 8, 3, padding=1)
        self.valid = nn.Conv2d(8, 8, (3, 1), padding=0, dilation=(1, 1))
        self.pair = nn.Conv2d(8, 8, (1, 5), stride=(1, 2), padding=(0, 2), bias=False)
        self.bn = nn.BatchNorm2d(8, eps=1e-3)
        self.acts = nn.Sequential(nn.ReLU6(), nn.Hardswish(), nn.SiLU(), nn.GELU(approximate="tanh"),
                                  nn.LeakyReLU(0.2), nn.ELU(0.5), nn.Hardtanh(-2.0, 2.0), nn.PReLU(8), nn.Tanh(),
                                  nn.Hardsigmoid(), nn.Identity())
        self.gn = nn.GroupNorm(2, 8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.deconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.maxpool = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.avgpool = nn.AvgPool2d(2, count_include_pad=False)
        self.amax = nn.AdaptiveMaxPool2d((3, 2))
        self.shuffle = nn.ChannelShuffle(2)
        self.aavg = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 12)
        self.bn1d = nn.BatchNorm1d(12)
        self.ln = nn.LayerNorm(12)
        self.drop = nn.Dropout(0.1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.pair(self.valid(self.same(x))))
        x = self.inorm(self.gn(self.acts(x)))
        x = self.maxpool(self.deconv(self.up(x)))
        x = self.aavg(self.shuffle(self.amax(self.avgpool(x))))
        return self.softmax(self.drop(self.ln(self.bn1d(self.fc(self.flatten(x))))))


class Functions(nn.Module):
    """Functional calls: activations, pools, dropout, softmax, add of two branches, cat, flatten by view."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.proj = nn.Conv2d(3, 6, 1)
        self.head = nn.Linear(6 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu6(self.conv(x))
        b = F.hardtanh(self.proj(x), 0.0, 6.0)
        y = F.gelu(F.leaky_relu(F.elu(a + b, 0.7), 0.05))
        y = torch.cat([torch.tanh(y), F.hardswish(y)], dim=1)
        y = F.avg_pool2d(F.silu(y), 2)
        y = F.adaptive_max_pool2d(F.hardsigmoid(y), 4)
        y = y.chunk(2, 1)[1]  # the second half of the channels
        y = y.view(y.size(0), -1)
        return F.softmax(F.dropout(self.head(y), 0.3, self.training), dim=-1)


class WithAux(nn.Module):
    """A classifier called only in training mode (Inception's auxiliary head): unused layers of the spec."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.aux = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        if self.training:
            return self.fc(x.mean([2, 3])) + self.aux(x)
        return self.fc(x.mean([2, 3]))


class VGGish(nn.Module):
    """A VGG in small: 3x3 convs with bias (torchvision's VGG), max pools, adaptive average pool, classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Fire(nn.Module):
    def __init__(self, cin: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNetish(nn.Module):
    """SqueezeNet 1.0 in small: conv1 is a 7x7 stride-2 convolution without padding, as torchvision's."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 7, stride=2), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(3, 2, ceil_mode=True), Fire(16, 4, 8))
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Conv2d(16, 10, 1), nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


class SamePadding(nn.Module):
    """padding='same' with an even kernel (one more row and column at the bottom and right): fvcore 0.1.5 counts
    0 for it on the original model (``aten::_convolution_mode``), so the proof's fvcore check fails."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, padding="same")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


# --- hostile ----------------------------------------------------------------------------------------------------


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.conv(x)
        return x


class DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 3, 1), Branchy())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Unsupported(nn.Module):
    """torch.roll twice and a PixelShuffle: no layer kind does either."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.ps = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.roll(self.conv(x), 1, 2)
        return self.ps(torch.roll(x, 1, 3))


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


class NeverCalled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.spare = nn.Linear(7, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def raises() -> nn.Module:
    raise ValueError("no model today")


def not_a_module() -> int:
    return 3


class BasicBlock(nn.Module):
    """ResNet's basic block; the first of a stage that changes the shape has a downsample (conv, bn)."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """Two stages of basic blocks (nn.Sequential, children 0, 1, ...), as torchvision's ResNet: they fold into one
    block and two stages."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16), BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvBN(nn.Sequential):
    """torchvision's Conv2dNormActivation in small: an nn.Sequential subclass, children named 0, 1, 2."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class Inverted(nn.Module):
    """MobileNetV2's inverted residual: without the expansion where `expand` is 1 (its layers then have other module
    paths, conv.1 a conv instead of conv.1.0: no block describes both), the residual only where the shape stays."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.residual = stride == 1 and cin == cout
        layers: list[nn.Module] = [ConvBN(cin, hidden, 1)] if expand != 1 else []
        layers += [ConvBN(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class TinyMobileNet(nn.Module):
    """Inverted residuals in one nn.Sequential with other modules: block uses, each on its line, not a stage."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(ConvBN(3, 8, 3, 2), Inverted(8, 8, 1, 1), Inverted(8, 12, 2, 4),
                                      Inverted(12, 12, 1, 4), Inverted(12, 16, 2, 4), ConvBN(16, 32, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# --- ConvNeXt and ViT in small: parameters read directly, channels-last blocks, self-attention ----------------------


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: permute to channels-last, F.layer_norm with the module's own weight and
    bias (read directly: fx get_attr), permute back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """torchvision.ops.misc.Permute."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class CNBlock(nn.Module):
    """torchvision's CNBlock: depthwise 7x7 conv, then channels-last (Permute, nn.LayerNorm, Linear 4C, GELU, Linear
    C, Permute back), the layer scale (a C x 1 x 1 parameter, ``self.layer_scale * x``), the residual add."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True), Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.layer_scale * self.block(x)
        result += x
        return result


class TinyConvNeXt(nn.Module):
    """ConvNeXt in small, as torchvision builds it: a 4x4 stride-4 stem and LayerNorm2d, two CNBlocks, a LayerNorm2d
    and 2x2 stride-2 conv downsample, one more CNBlock, average pool, LayerNorm2d, flatten, linear head."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 4, 4), LayerNorm2d(8, eps=1e-6)),
            nn.Sequential(CNBlock(8), CNBlock(8)),
            nn.Sequential(LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 16, 2, 2)),
            nn.Sequential(CNBlock(16)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Flatten(1), nn.Linear(16, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


class EncoderBlock(nn.Module):
    """torchvision's ViT EncoderBlock: LayerNorm, self-attention called with q = k = v, dropout, residual; LayerNorm,
    MLP (Linear, GELU, Dropout, Linear, Dropout), residual."""

    def __init__(self, dim: int, heads: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, dim),
                                 nn.Dropout(0.0))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.ln_1(inputs)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x) + inputs
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """The position embedding (a 1 x T x C parameter added directly), the blocks, a LayerNorm."""

    def __init__(self, tokens: int, dim: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, dim).normal_(std=0.02))
        self.layers = nn.Sequential(EncoderBlock(dim, 2, 32), EncoderBlock(dim, 2, 32))
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(x + self.pos_embedding))


class TinyViT(nn.Module):
    """torchvision's VisionTransformer in small (image 16, patch 4, dim 16): the patch conv, reshape and permute to
    tokens, the class token (a parameter, expanded over the batch and concatenated in front), the encoder, the class
    token's features (``x[:, 0]``) into the linear head."""

    def __init__(self, image: int = 16, patch: int = 4, dim: int = 16, classes: int = 10) -> None:
        super().__init__()
        self.patch, self.dim = patch, dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.encoder = Encoder((image // patch) ** 2 + 1, dim)
        self.heads = nn.Sequential(nn.Linear(dim, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        x = self.conv_proj(x).reshape(n, self.dim, (h // self.patch) * (w // self.patch)).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


class ParameterBias(nn.Module):
    """A parameter added to a feature map: no layer kind adds a learned C x 1 x 1 table."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.shift = nn.Parameter(torch.zeros(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shift


class AttentionWeights(nn.Module):
    """MultiheadAttention with need_weights left True, and a max pool on a channels-last map."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.flatten(2).transpose(1, 2)
        y = self.attention(t, t, t)[0]
        return y.mean(1) + F.max_pool2d(x.permute(0, 2, 3, 1), 2).flatten(1)[:, :4]


class RolledChannelsLast(nn.Module):
    """torch.roll on a channels-last map, then a LayerNorm there (mapped, had the roll been): only the roll is
    listed, not what follows it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.norm = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.roll(self.conv(x).permute(0, 2, 3, 1), 1, 1)
        return self.norm(x).permute(0, 3, 1, 2)
