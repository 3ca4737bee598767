import json, struct, numpy as np, hashlib
D='/work/shared/toolmmbench/'
def st_read(p):
    b=open(p,'rb').read(); n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); base=8+n; out={}
    for k,v in h.items():
        if k=='__metadata__': continue
        s,e=v['data_offsets']; dt={'F32':np.float32,'U64':np.uint64}[v['dtype']]
        out[k]=np.frombuffer(b[base+s:base+e],dtype=dt).reshape(v['shape'])
    return out, h.get('__metadata__')
def fnv(s):
    h=0xcbf29ce484222325
    for c in s.encode(): h^=c; h=(h*0x100000001b3)&0xffffffffffffffff
    return h
S,_=st_read('/root/.cache/mmtool/retrieval/embeddings-minilm.safetensors')
row={int(h):i for i,h in enumerate(S['hashes'])}
E=S['embeddings']
def emb(texts):
    idx=[row.get(fnv(t),-1) for t in texts]
    miss=sum(i<0 for i in idx)
    return E[[max(i,0) for i in idx]], np.array(idx)>=0
def items(f):
    out=[]
    for it in json.load(open(D+f)):
        c=it['conversations']; ins=c[0]['value'].strip(); v=c[1]['value']
        ans=[v.strip()] if isinstance(v,str) else [x.strip() for x in v]
        out.append(dict(ins=ins,ans=ans,mod=it['input_modality'],amb=int(str(it.get('ambiguity',c[1].get('ambiguity',-1)))),f=f))
    return out
cat=[json.loads(l) for l in open(D+'catalog.jsonl')]
ids=[c['id'] for c in cat]; idx_of={t:i for i,t in enumerate(ids)}
