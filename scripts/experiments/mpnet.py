import numpy as np, json, struct, math
from tokenizers import Tokenizer
P='/root/.cache/mmtool/models/mpnet/all-mpnet-base-v2/'
def load_st(p):
    b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); base=8+n; W={}
    for k,v in h.items():
        if k=='__metadata__' or v['dtype']!='F32': continue
        s,e=v['data_offsets']; W[k]=np.frombuffer(b[base+s:base+e],dtype=np.float32).reshape(v['shape'])
    return W
W=load_st(P+'model.safetensors')
tok=Tokenizer.from_file(P+'tokenizer.json'); tok.no_padding(); tok.enable_truncation(128)
H=12; D=768
def ln(x,w,b,eps=1e-5):
    m=x.mean(-1,keepdims=True); v=((x-m)**2).mean(-1,keepdims=True); return (x-m)/np.sqrt(v+eps)*w+b
def gelu(x):
    from math import sqrt
    return 0.5*x*(1+erf(x/np.sqrt(2)))
try:
    from scipy.special import erf
except ImportError:
    pass
    def gelu(x): return (0.5*x*(1+np.tanh(0.7978845608*(x+0.044715*x**3)))).astype(np.float32)
def bucket(rp,nb=32,maxd=128):
    ret=0; n=-rp; nb//=2; ret=ret+(n<0).astype(np.int64)*nb; n=np.abs(n); me=nb//2
    small=n<me
    large=me+(np.log(np.maximum(n,1)/me)/math.log(maxd/me)*(nb-me)).astype(np.int64)
    large=np.minimum(large,nb-1)
    return ret+np.where(small,n,large)
def embed_one(text):
    ids=np.array(tok.encode(text).ids); L=len(ids)
    pos=np.arange(L)+2  # padding_idx 1 + cumsum
    x=W['embeddings.word_embeddings.weight'][ids]+W['embeddings.position_embeddings.weight'][pos]
    x=ln(x,W['embeddings.LayerNorm.weight'],W['embeddings.LayerNorm.bias'])
    ctx=np.arange(L)[:,None]; mem=np.arange(L)[None,:]
    pb=W['encoder.relative_attention_bias.weight'][bucket(mem-ctx)].transpose(2,0,1)  # H,L,L
    for i in range(12):
        p=f'encoder.layer.{i}.'
        def lin(h,n): return h@W[p+n+'.weight'].T+W[p+n+'.bias']
        q=lin(x,'attention.attn.q').reshape(L,H,64).transpose(1,0,2)
        k=lin(x,'attention.attn.k').reshape(L,H,64).transpose(1,0,2)
        v=lin(x,'attention.attn.v').reshape(L,H,64).transpose(1,0,2)
        s=q@k.transpose(0,2,1)/8.0+pb; s-=s.max(-1,keepdims=True); a=np.exp(s); a/=a.sum(-1,keepdims=True)
        o=(a@v).transpose(1,0,2).reshape(L,D)
        x=ln(lin(o,'attention.attn.o')+x,W[p+'attention.LayerNorm.weight'],W[p+'attention.LayerNorm.bias'])
        h=gelu(lin(x,'intermediate.dense'))
        x=ln(lin(h,'output.dense')+x,W[p+'output.LayerNorm.weight'],W[p+'output.LayerNorm.bias'])
    e=x.mean(0); return e/np.linalg.norm(e)
def embed(texts):
    return np.stack([embed_one(t) for t in texts])
if __name__=='__main__':
    print([k for k in W if 'relative' in k], erf)
    e=embed(["A man is eating food.","A man is eating a piece of bread.","The girl is carrying a baby.","A man is riding a horse."])
    print(np.round(e@e.T,4))
