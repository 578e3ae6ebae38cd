#include "weight_source.h"

#include "gguf.h"

namespace potron {

WeightSource gguf_weight_source(const GgufFile& g) {
  WeightSource s;
  s.path = g.path();
  s.format = "gguf";
  s.auto_keeps_types = true;
  s.files.push_back(g.file());
  for (const GgufTensorInfo& t : g.tensors()) {
    StoredTensor st{};
    st.name = st.file_name = t.name;
    st.file = g.file().get();
    st.type = static_cast<ggml_type>(t.type);
    st.type_name = ggml_type_name(st.type);
    st.n_dims = static_cast<int>(t.n_dims);
    std::copy(t.ne, t.ne + 4, st.ne);
    st.data = g.data_base() + t.offset;
    st.nbytes = t.nbytes;
    s.add(std::move(st));
  }
  return s;
}

}  // namespace potron
