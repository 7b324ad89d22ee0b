"""The page's words, in Simplified Chinese (the default) and English: every label, hint, message and explanation, by
key. Code says `Text("key", **values)`; the page shows it in the language picked at its top."""

from __future__ import annotations

from typing import Any

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"


class Text:
    """A message in both languages, to be shown in one: a key of `STRINGS` and the values its braces take (values
    may be `Text`s themselves). `str()` gives the English, for logs and exceptions."""

    def __init__(self, key: str, **values: Any):
        if key not in STRINGS:
            raise KeyError(f"no page text {key!r} in ui/texts.py")
        self.key, self.values = key, values

    def __call__(self, lang: str) -> str:
        values = {name: say(value, lang) if isinstance(value, Text) else value for name, value in self.values.items()}
        return STRINGS[self.key][lang].format(**values)

    def __str__(self) -> str:
        return self("en")

    def __repr__(self) -> str:
        return f"Text({self.key!r}, {self.values!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.key, self.values) == (other.key, other.values)


def say(message: Text | str, lang: str) -> str:
    """`message` in `lang`; a plain string (a detail from below the app, such as a path or a TensorFlow error) as it
    is."""
    return message(lang if lang in LANGUAGES else DEFAULT_LANGUAGE) if isinstance(message, Text) else str(message)


def t(key: str, lang: str, **values: Any) -> str:
    """Shorthand: the text `key` in `lang`."""
    return say(Text(key, **values), lang)


_TEXTS: dict[str, tuple[str, str]] = {
    # --- the page
    "app.intro": (
        "# kbert 学习室\n动手看 BERT 怎样工作：猜被遮住的字，判断两句话是否前后相接，给文本分类，再看看模型内部的"
        "注意力和输入嵌入。",
        "# kbert studio\nSee BERT at work: guess masked words, judge whether one sentence follows another, classify a "
        "text, and look inside at its attention and its input embeddings."),
    "app.language": ("语言 / Language", "Language / 语言"),
    "tab.fill": ("填空", "Fill the mask"),
    "tab.pair": ("句子对", "Sentence pair"),
    "tab.classify": ("分类与归因", "Classify and explain"),
    "tab.attention": ("注意力", "Attention"),
    "tab.embeddings": ("输入嵌入", "Input embeddings"),
    "tab.details": ("模型信息", "Model details"),
    "common.model": ("模型", "Model"),
    "common.examples": ("例子（点一个就运行）", "Examples (click one to run it)"),
    "common.enter": ("按 Enter 运行。", "Press Enter to run."),
    "common.first": ("句子 A", "Sentence A"),
    "common.second_optional": ("句子 B（可选：填了就按句对处理）", "Sentence B (optional: fill it for a pair)"),
    "common.none": ("（不用）", "(none)"),
    "common.problem": ("**问题：** {message}", "**Problem:** {message}"),
    "common.note": ("**提示：** {note}", "**Note:** {note}"),
    "common.bug": ("应用内部出错了，详情在服务器日志里。换一个输入再试试。",
                   "Something went wrong inside the app; the server log has the details. Try another input."),
    "common.segment": ("段", "segment"),
    "common.segment_a": ("句 A", "A"),
    "common.segment_b": ("句 B", "B"),
    "what.text": ("文本", "text"),
    "what.first": ("句子 A", "first sentence (A)"),
    "what.second": ("句子 B", "second sentence (B)"),
    # --- what the special tokens and the training tasks are
    "teach.tokens": (
        "**模型看到的词元**（WordPiece：中文一字一个，英文按词或词片，`##` 开头的接在前一个后面）。",
        "**The model's tokens** (WordPiece: one per Chinese character; English words whole or in pieces, a `##` "
        "piece joining the one before)."),
    "teach.cls": (
        "`[CLS]` 放在最前面，本身不代表任何字；最后一层在它这个位置的向量用来判断整段话（下一句预测、分类）。",
        "`[CLS]` comes first and stands for no word; the last layer's vector at its position judges the whole input "
        "(next sentence, classification)."),
    "teach.sep": (
        "`[SEP]` 标出一句话的结尾；输入两句话时，它把句 A 和句 B 隔开。",
        "`[SEP]` ends a sentence; with two sentences it separates A from B."),
    "teach.mask": (
        "`{mask}` 是被遮住的位置。预训练时约 15% 的词元被选中，其中 80% 换成 `{mask}`、10% 换成随机词元、10% 不变，"
        "模型要猜出原来的词元：这就是掩码语言模型（MLM）。",
        "`{mask}` marks a hidden position. In pretraining about 15% of the tokens are picked; 80% of them become "
        "`{mask}`, 10% a random token, 10% stay, and the model must guess the original: the masked language model "
        "(MLM)."),
    "teach.unk": (
        "`[UNK]`：词表里没有的字或词都变成它，模型看不到它原来是什么。",
        "`[UNK]`: whatever the vocabulary has no token for becomes it, and the model cannot see what it was."),
    "teach.segments": (
        "**段编号（segment id）**：句 A 的词元连同 `[CLS]` 和第一个 `[SEP]` 编号 0，句 B 的词元连同最后的 `[SEP]` "
        "编号 1。编号 0 和 1 各有一个段向量，加到词元向量上，模型由此知道每个词元属于哪一句。",
        "**Segment ids**: sentence A's tokens, with `[CLS]` and the first `[SEP]`, are segment 0; sentence B's, with "
        "the last `[SEP]`, segment 1. Each id has a segment embedding that is added to the token's, so the model "
        "knows which sentence a token belongs to."),
    "teach.nsp": (
        "**下一句预测（NSP）的训练数据**：从语料里取一句 A；一半的时候 B 是紧接在 A 后面的真实下一句，另一半的时候 B "
        "是从语料别处随机抽来的一句。模型读 `[CLS] A [SEP] B [SEP]`，用 `[CLS]` 的向量判断 B 是不是真的下一句。",
        "**What next-sentence prediction (NSP) trains on**: take a sentence A from the corpus; half the time B is the "
        "sentence that really follows it, half the time a random sentence from elsewhere in the corpus. The model "
        "reads `[CLS] A [SEP] B [SEP]` and judges from `[CLS]`'s vector whether B really comes next."),
    "teach.attention_shows": (
        "**注意力图显示的是**：在选定的层和头里，每个词元（左边 / 行）从其他每个词元（右边 / 列）取多少信息；"
        "每一行的权重加起来是 1。颜色刻度见图例。",
        "**An attention map shows**: in the chosen layer and head, how much each token (left / row) takes from every "
        "other token (right / column); each row's weights add up to 1. The legend gives the colour scale."),
    "teach.attention_not": (
        "**它不显示**：模型为什么这样判断。权重还要乘上值向量，再经过前馈网络和后面的层；权重大不等于重要。很多头把注意力"
        "放在 `[SEP]` 或 `[CLS]` 上，往往相当于“这个头这里不做事”。想知道哪个词影响了判断，看“分类与归因”页。",
        "**It does not show** why the model decides as it does. The weights still multiply value vectors and pass "
        "through feed-forward networks and later layers; a large weight is not importance. Many heads put their "
        "attention on `[SEP]` or `[CLS]`, often meaning “nothing to do here”. To see which words moved a decision, "
        "use the Classify and explain tab."),
    "teach.embedding_sum": (
        "**BERT 的输入表示**：每个词元的向量 = 词元向量 E_token + 段向量 E_segment + 位置向量 E_position，"
        "三者逐元素相加，再经过 LayerNorm，才送进第一层编码器。热图里每一列是一个词元，每一行是向量的一维。",
        "**BERT's input representation**: each token's vector = token embedding E_token + segment embedding "
        "E_segment + position embedding E_position, added element by element, then LayerNorm, before the first "
        "encoder layer reads it. In the heatmaps a column is a token, a row one dimension of its vector."),
    "teach.gxi": (
        "**梯度 × 输入**：在当前输入处，每个词元的向量沿自身方向变一点，预测标签的分数会变多少（一阶近似）。"
        "算得快，但只看这一个点，常常很嘈杂。红色推向预测的标签，紫色推离它。",
        "**Gradient × input**: how much the predicted label's score would change if each token's vector moved a "
        "little along itself, at this input (a first-order estimate). Fast but local, and often noisy. Red pushes "
        "towards the predicted label, purple away from it."),
    "teach.ig": (
        "**积分梯度**：把每个词元的向量从“空白”基线（`[PAD]` 的向量）沿直线一步步移到真实输入，沿途累积梯度 × 位移。"
        "各词元的归因加起来等于（输入的分数 − 基线的分数），比梯度 × 输入更可靠。颜色同上。",
        "**Integrated gradients**: move each token's vector from a blank baseline (`[PAD]`'s vector) to the real "
        "input in small steps, adding up gradient × step on the way. The attributions add up to (the input's score "
        "− the baseline's), which makes them more reliable than gradient × input. Colours as above."),
    # --- notes about the input
    "note.cut": (
        "{what}有 {length:,} 个字符，只保留了前 {kept:,} 个：从「{start}…」开始的最后 {cut:,} 个被截掉了。",
        "The {what} was {length:,} characters; only the first {kept:,} were kept: the last {cut:,}, from "
        "“{start}…”, were cut."),
    "note.cut_masks": ("被截掉的部分里有 {count} 个 {mask}，它们不会被预测。",
                       "{count} {mask}(s) were in the part that was cut and are not predicted."),
    "note.control": ("从{what}里去掉了 {count} 个控制字符。", "Removed {count} control character(s) from the {what}."),
    "note.surrogates": ("从{what}里去掉了 {count} 个孤立的代理码元（比如半个表情符号），它们不是完整的字符。",
                        "Removed {count} lone surrogate(s) from the {what}: halves of characters (such as half an "
                        "emoji), not text."),
    "note.window": (
        "输入超过了模型 {window} 个词元的窗口，只读了前 {kept} 个词元（含 [CLS] 和 [SEP]）。",
        "The input is longer than the model's window of {window} tokens; only the first {kept} tokens (with [CLS] "
        "and [SEP]) were read."),
    "note.unknown": (
        "这些变成了 [UNK]（词表里没有）：{pieces}。模型看不到它们原来是什么。",
        "These became [UNK] (the vocabulary has no token for them): {pieces}. The model cannot see what they were."),
    "note.full_width": ("词表里有它们的全角写法：{forms}，可以换成全角再试。",
                        "The vocabulary has their full-width forms: {forms}; try those instead."),
    "note.unknown_count": (
        "{count} 个片段变成了 [UNK]：词表里没有它们，模型看不到它们原来是什么。（这个模型导出时还没有 tokenize 签名，"
        "说不出是哪些字。）",
        "{count} piece(s) became [UNK]: the vocabulary has no token for them, so the model cannot see what they "
        "were. (This model was exported without the tokenize signature, so which ones cannot be said.)"),
    "error.empty": ("{what}是空的：输入一句话（或点下面的例子）。",
                    "The {what} is empty: type a sentence (or pick an example below)."),
    "error.missing_signature": (
        "这个模型是用较早的 kbert 导出的，没有这一项需要的签名（{signature}）。用现在的 kbert 重新导出即可：`{path}`",
        "This model was exported by an older kbert, without the signature this needs ({signature}). Export it again "
        "with today's kbert: `{path}`"),
    # --- fill the mask
    "fill.text": ("含 {mask} 的句子", "Sentence with {mask}"),
    "fill.placeholder": ("今天天气很{mask}。——也可以直接输入一句话，再点下面的字把它遮住",
                         "今天天气很{mask}。 — or type a sentence and click a word below to mask it"),
    "fill.words": ("点一个字把它换成 {mask}（中文按字，英文按词）",
                   "Click a word to replace it by {mask} (in Chinese, a character)"),
    "fill.words_cut": (
        "这一行只列出前 {shown:,} 个（共 {total:,} 个）：模型只读前 {window} 个词元，更后面的遮住了也不会被预测。",
        "This row lists the first {shown:,} of {total:,}: the model reads only its first {window} tokens, so masking "
        "beyond them would predict nothing."),
    "fill.top_k": ("每个 {mask} 的候选数", "Candidates per {mask}"),
    "fill.run": ("预测", "Predict"),
    "fill.best": ("每个 {mask} 取第一名：", "Each {mask}'s first candidate:"),
    "fill.mask_title": ("第 {number} 个 {mask}", "{mask} {number}"),
    "fill.original": ("原来是「{original}」：排第 {rank} 名，概率 {probability}",
                      "The original, “{original}”: rank {rank}, probability {probability}"),
    "fill.original_pieces": (
        "原来是「{original}」：在词表里是 {count} 个词元（{pieces}），一个 {mask} 只能填一个词元，所以排不了名。",
        "The original, “{original}”, is {count} tokens in this vocabulary ({pieces}); one {mask} holds one token, "
        "so it cannot be ranked."),
    "fill.original_unknown": ("原来是「{original}」：词表里没有它（会变成 [UNK]），模型不可能猜出它。",
                              "The original, “{original}”, is not in the vocabulary (it becomes [UNK]): the model "
                              "cannot guess it."),
    "fill.independent": (
        "上面每个 {mask} 的候选是分别预测的：预测其中一个时，其他的还是 {mask}。",
        "Each {mask}'s candidates above are predicted on their own: while one is predicted, the others are still "
        "{mask}."),
    "fill.joint": (
        "**一起填**：先填模型最有把握的那个 {mask}，再带着它重新预测其余的，依次类推（束搜索，宽度 {beam}）。"
        "这样填出的句子：",
        "**Filled together**: fill the {mask} the model is surest of, predict the others again with it in place, "
        "and so on (a beam search of width {beam}). The sentence this gives:"),
    "fill.joint_probability": ("概率 = 每一步概率之积 = {probability}；填的顺序：{order}",
                               "probability = the product of each step's = {probability}; order filled: {order}"),
    "error.no_mask": (
        "文本里没有 {mask}：在要猜的位置写 {mask}，或者点输入框下面那一行里的字把它遮住。",
        "The text has no {mask}: type {mask} where a word should be guessed, or click a word in the row below the "
        "box to mask it."),
    "error.too_many_masks": ("文本里有 {count} 个 {mask}；这个模型每段最多回答 {most} 个，请删掉一些。",
                             "The text has {count} {mask}s; this model answers at most {most} per text: remove some."),
    "error.masks_beyond_window": ("所有 {mask} 都在模型 {window} 个词元的窗口之外：把一个挪到靠前的位置。",
                                  "Every {mask} lies beyond the model's {window}-token window: put one nearer the "
                                  "start of the text."),
    "note.masks_beyond_window": ("{written} 个 {mask} 中只有前 {seen} 个在模型的窗口里，其余的没有预测。",
                                 "Only the first {seen} of the {written} {mask}s fit in the model's window; the "
                                 "others were not predicted."),
    # --- sentence pair
    "pair.nsp_model": ("下一句预测模型", "Next-sentence model"),
    "pair.classifier": ("句对分类器（可选）", "Pair classifier (optional)"),
    "pair.first": ("句子 A", "Sentence A"),
    "pair.second": ("句子 B", "Sentence B"),
    "pair.run": ("B 接在 A 后面吗？", "Does B follow A?"),
    "pair.swap": ("⇄ 交换 A 和 B", "⇄ Swap A and B"),
    "pair.nsp": ("下一句预测头", "Next-sentence head"),
    "pair.labels": ("句对分类器", "Pair classifier"),
    "pair.follows": ("B 接在 A 后面", "B follows A"),
    "pair.not_follows": ("B 不接在 A 后面", "B does not follow A"),
    "pair.summary": ("P(B 接在 A 后面) = **{forward:.1%}** · 交换以后，P(A 接在 B 后面) = **{backward:.1%}**",
                     "P(B follows A) = **{forward:.1%}** · swapped, P(A follows B) = **{backward:.1%}**"),
    "pair.tokens": ("**模型读到的输入**：`[CLS] A [SEP] B [SEP]`；每个词元下面是它的段编号。",
                    "**What the model reads**: `[CLS] A [SEP] B [SEP]`; under each token, its segment id."),
    # --- classify and explain
    "clf.model": ("分类器", "Classifier"),
    "clf.text": ("文本", "Text"),
    "clf.run": ("分类", "Classify"),
    "clf.scores": ("各标签的概率", "Label probabilities"),
    "clf.gxi": ("梯度 × 输入：哪些词元推动了判断", "Gradient × input: which tokens pushed the decision"),
    "clf.ig": ("积分梯度：哪些词元推动了判断", "Integrated gradients: which tokens pushed the decision"),
    "clf.predicted": ("预测为 **{label}**（{probability:.1%}）。归因说的是：什么把分数推向「{label}」、什么把它推离。",
                      "Predicted **{label}** ({probability:.1%}). The attributions say what pushed the score towards "
                      "“{label}” and what pushed it away."),
    "clf.ig_check": (
        "积分梯度的归因加起来是 {total:.3f}；「{label}」的分数在输入处比在基线处高 {difference:.3f}"
        "（{steps} 步积分，相差 {gap:.3f}）。",
        "The integrated-gradients attributions add up to {total:.3f}; “{label}”'s score is {difference:.3f} higher "
        "at the input than at the baseline ({steps} integration steps, off by {gap:.3f})."),
    # --- attention
    "att.run": ("显示注意力", "Show attention"),
    "att.layer": ("层", "Layer"),
    "att.head": ("头", "Head"),
    "att.layer_n": ("第 {n} 层", "Layer {n}"),
    "att.head_n": ("第 {n} 头", "Head {n}"),
    "att.mean": ("各头平均", "Mean over heads"),
    "att.hide": ("隐藏 [CLS] 和 [SEP]", "Hide [CLS] and [SEP]"),
    "att.head_view": ("头视图：线越深，左边的词元从右边那个取的越多；鼠标移到一个词元上，只看它的线",
                      "Head view: the darker a line, the more the left token takes from the right one; hover a "
                      "token to see only its lines"),
    "att.model_view": ("模型视图：每层每个头一张小图（行：层，列：头）；点一张，在右边放大",
                       "Model view: one small map per layer and head (rows: layers, columns: heads); click one to "
                       "open it on the right"),
    "att.title": ("第 {layer} 层 · {head}", "Layer {layer} · {head}"),
    "att.open_title": ("第 {layer} 层 · 第 {head} 头", "Layer {layer} · head {head}"),
    "att.attending": ("关注者（行）", "attending (row)"),
    "att.attended": ("被关注（列）", "attended to (column)"),
    "att.weight": ("注意力权重", "attention weight"),
    "att.layer_axis": ("层", "layer"),
    "att.head_axis": ("头", "head"),
    "att.shown": ("共 {total} 个词元，{view}只画前 {shown} 个。",
                  "{total} tokens; the {view} draws the first {shown}."),
    "att.head_view_name": ("头视图", "head view"),
    "att.model_view_name": ("模型视图", "model view"),
    "att.hidden": (
        "隐藏了 [CLS] 和 [SEP]。剩下的权重没有重新归一：每一行加起来小于 1，少掉的就是分给它们的。",
        "[CLS] and [SEP] are hidden. The other weights are not rescaled: a row now adds up to less than 1, and what "
        "is missing went to them."),
    # --- input embeddings
    "emb.run": ("显示输入嵌入", "Show the input embeddings"),
    "emb.plot": ("每个词元的输入向量：三部分相加，再做 LayerNorm", "Each token's input vector: three parts added, then "
                 "LayerNorm"),
    "emb.token_embeddings": ("词元向量 E_token", "token embedding E_token"),
    "emb.segment_embeddings": ("段向量 E_segment", "segment embedding E_segment"),
    "emb.position_embeddings": ("位置向量 E_position", "position embedding E_position"),
    "emb.embedding_sum": ("三者之和 E_token + E_segment + E_position", "their sum E_token + E_segment + E_position"),
    "emb.embedding_output": ("LayerNorm 之后：第一层编码器读到的",
                             "after LayerNorm: what the first encoder layer reads"),
    "emb.token": ("词元", "token"),
    "emb.dimension": ("维度", "dimension"),
    "emb.value": ("数值", "value"),
    "emb.norm": ("向量长度（L2）", "vector length (L2)"),
    "emb.shown": ("热图画出 {hidden} 维中的前 {shown} 维；底下的柱子是整条向量的长度。位置向量：{kind}。",
                  "The heatmaps draw the first {shown} of {hidden} dimensions; the bars below are whole vectors' "
                  "lengths. Position embeddings: {kind}."),
    "emb.learned": ("学出来的（每个位置一个可训练的向量）", "learned (one trained vector per position)"),
    "emb.sinusoidal": ("固定的正弦 / 余弦表", "a fixed sine / cosine table"),
    # --- model details
    "det.property": ("属性", "property"),
    "det.value": ("值", "value"),
    "det.path": ("路径", "path"),
    "det.type": ("类型", "type"),
    "det.answers": ("能做的任务", "answers"),
    "det.vocabulary": ("词表", "vocabulary"),
    "det.vocabulary_size": ("{size:,} 个词元", "{size:,} tokens"),
    "det.lowercase": ("，转小写", ", lower-cased"),
    "det.window": ("窗口", "window"),
    "det.window_size": ("{size} 个词元", "{size} tokens"),
    "det.labels": ("标签", "labels"),
    "det.exported": ("导出时间", "exported"),
    "det.metric": ("指标：{name}", "metric: {name}"),
    # --- the models on disk
    "store.empty": (
        "`{root}` 下没有导出的模型。用 `{command}` 训练并导出一个，再重新启动应用（导出到了别处的话，用 "
        "`python -m ui --models-dir 目录`）。",
        "No exported model under `{root}`. Train and export one with `{command}`, then start the app again (with "
        "`python -m ui --models-dir DIR` if the export went somewhere else)."),
    "store.cannot_list": ("无法列出 `{root}` 下的模型：{error}", "Cannot list the models under `{root}`: {error}"),
    "store.none_usable": (
        "`{root}` 下的 {count} 个模型都无法使用（“模型信息”的模型列表里写着原因）。"
        "用 `{command}` 训练并导出一个，再重新启动应用。",
        "None of the {count} models under `{root}` can be used (the model list in Model details says why). Train and "
        "export one with `{command}`, then start the app again."),
    "store.pick": ("请先选一个模型。", "Pick a model first."),
    "store.cannot_use": ("无法使用 `{path}` 的模型：{error}", "Cannot use the model at `{path}`: {error}"),
}

STRINGS: dict[str, dict[str, str]] = {key: dict(zip(LANGUAGES, texts, strict=True)) for key, texts in _TEXTS.items()}
